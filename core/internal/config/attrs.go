package config

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/ferry-cdc/ferry/sdk"
)

// decoded is the result of decoding a body's attributes against an sdk.Spec.
type decoded struct {
	values  map[string]any       // JSON-ready values (set or defaulted)
	ranges  map[string]hcl.Range // attributes set in the file -> expression range
	secrets secretSet            // secret expressions and values
}

// schemaFor returns the hcl schema of a spec's attributes plus extra names (all optional:
// required attributes are checked by decodeAttrs, to report them at the block header).
func schemaFor(spec sdk.Spec, extra ...string) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, a := range spec.Attributes {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a.Name})
	}
	for _, n := range extra {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}

// decodeAttrs decodes attrs against spec and applies defaults. owner names the block in
// messages ("the runtime block"); header is where a missing required attribute is reported.
func (f *File) decodeAttrs(attrs hcl.Attributes, spec sdk.Spec, owner string, header hcl.Range) (decoded, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	out := decoded{values: map[string]any{}, ranges: map[string]hcl.Range{}}
	for _, a := range spec.Attributes {
		if attr, ok := attrs[a.Name]; ok {
			rng := attr.Expr.Range()
			out.ranges[a.Name] = rng
			secret := a.Secret || f.usesSensitive(attr.Expr)
			if secret {
				out.secrets.ranges = append(out.secrets.ranges, rng)
			}
			v, d := f.eval(attr.Expr)
			diags = append(diags, d...)
			if d.HasErrors() || !v.IsWhollyKnown() {
				continue
			}
			if !v.IsNull() {
				if secret {
					out.secrets.addValue(v)
				}
				gv, d := convertValue(v, a, rng, secret)
				diags = append(diags, d...)
				if !d.HasErrors() {
					out.values[a.Name] = gv
				}
				continue
			}
		}
		// Not set, or set to null.
		switch {
		case a.Required:
			detail := fmt.Sprintf("%s requires the argument %q, but it is not set.", capitalize(owner), a.Name)
			if a.Doc != "" {
				detail += fmt.Sprintf(" %q: %s", a.Name, a.Doc)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   detail,
				Subject:  header.Ptr(),
			})
		case a.Default != nil:
			v, err := normalizeDefault(a)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default in plugin schema",
					Detail:   fmt.Sprintf("The default of %q declared by %s is invalid: %v. This is a bug in the plugin.", a.Name, owner, err),
					Subject:  header.Ptr(),
				})
				continue
			}
			out.values[a.Name] = v
			if a.Secret {
				if s, ok := v.(string); ok {
					out.secrets.values = append(out.secrets.values, s)
				}
			}
		}
	}
	return out, diags
}

// normalizeDefault turns a spec default into its JSON value (durations normalised, sizes in
// bytes).
func normalizeDefault(a sdk.Attribute) (any, error) {
	switch a.Type {
	case sdk.TypeDuration:
		s, ok := a.Default.(string)
		if !ok {
			return nil, fmt.Errorf("a duration string is required")
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		return d.String(), nil
	case sdk.TypeSize:
		switch v := a.Default.(type) {
		case int64:
			return v, nil
		case string:
			return sdk.ParseSize(v)
		}
		return nil, fmt.Errorf("a size is an int64 or a string")
	}
	return a.Default, nil
}

func typeDiag(name string, rng hcl.Range, what string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Incorrect attribute value type",
		Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s.", name, what),
		Subject:  rng.Ptr(),
	}
}

// convertErr is cty's conversion message, or a generic one for secrets (cty messages carry
// no values today, but a secret is not worth the bet).
func convertErr(err error, secret bool, generic string) string {
	if secret {
		return generic
	}
	return err.Error()
}

// convertValue converts a known, non-null value to the JSON value of attribute a.
func convertValue(v cty.Value, a sdk.Attribute, rng hcl.Range, secret bool) (any, hcl.Diagnostics) {
	c := conv{a: a, rng: rng, secret: secret}
	var out any
	var d *hcl.Diagnostic
	switch a.Type {
	case sdk.TypeString:
		out, d = c.str(v)
	case sdk.TypeInt:
		out, d = c.int(v)
	case sdk.TypeFloat:
		out, d = c.float(v)
	case sdk.TypeBool:
		bv, err := convert.Convert(v, cty.Bool)
		if err != nil {
			d = c.typeErr(err, "a bool is required")
		} else {
			out = bv.True()
		}
	case sdk.TypeDuration:
		out, d = c.duration(v)
	case sdk.TypeSize:
		out, d = c.size(v)
	case sdk.TypeStringList:
		out, d = c.list(v)
	case sdk.TypeStringMap:
		out, d = c.strMap(v)
	default:
		d = typeDiag(a.Name, rng, fmt.Sprintf("the plugin declares an unknown type %q", a.Type))
	}
	if d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return out, nil
}

// conv converts one attribute's value to its declared type (convertValue); each method
// handles one type and returns the diagnostic of a value it refuses. A secret's value never
// appears in a diagnostic.
type conv struct {
	a      sdk.Attribute
	rng    hcl.Range
	secret bool
}

// show quotes s for a diagnostic, or says "the value" for a secret.
func (c conv) show(s string) string {
	if c.secret {
		return "the value"
	}
	return strconv.Quote(s)
}

func (c conv) typeErr(err error, want string) *hcl.Diagnostic {
	return typeDiag(c.a.Name, c.rng, convertErr(err, c.secret, want))
}

func (c conv) invalid(summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: c.rng.Ptr()}
}

func (c conv) str(v cty.Value) (any, *hcl.Diagnostic) {
	sv, err := convert.Convert(v, cty.String)
	if err != nil {
		return nil, c.typeErr(err, "a string is required")
	}
	s := sv.AsString()
	if len(c.a.Enum) > 0 && !contains(c.a.Enum, s) {
		hint := ""
		if !c.secret {
			hint = didYouMean(s, c.a.Enum)
		}
		return nil, c.invalid(fmt.Sprintf("Invalid value for %q", c.a.Name),
			fmt.Sprintf("%s is not one of the allowed values of %q: %s.%s", capitalize(c.show(s)), c.a.Name, quoteList(c.a.Enum), hint))
	}
	return s, nil
}

func (c conv) int(v cty.Value) (any, *hcl.Diagnostic) {
	nv, err := convert.Convert(v, cty.Number)
	if err != nil {
		return nil, c.typeErr(err, "a number is required")
	}
	bf := nv.AsBigFloat()
	if !bf.IsInt() {
		return nil, typeDiag(c.a.Name, c.rng, "a whole number is required")
	}
	i, acc := bf.Int64()
	if acc != big.Exact {
		return nil, outOfRange(c.a, c.rng, "the value does not fit in 64 bits")
	}
	if d := checkBounds(c.a, float64(i), c.rng, c.secret, strconv.FormatInt(i, 10)); d != nil {
		return nil, d
	}
	return i, nil
}

func (c conv) float(v cty.Value) (any, *hcl.Diagnostic) {
	nv, err := convert.Convert(v, cty.Number)
	if err != nil {
		return nil, c.typeErr(err, "a number is required")
	}
	x, _ := nv.AsBigFloat().Float64()
	if d := checkBounds(c.a, x, c.rng, c.secret, strconv.FormatFloat(x, 'g', -1, 64)); d != nil {
		return nil, d
	}
	return x, nil
}

func (c conv) duration(v cty.Value) (any, *hcl.Diagnostic) {
	sv, err := convert.Convert(v, cty.String)
	if err != nil || v.Type() == cty.Bool {
		return nil, typeDiag(c.a.Name, c.rng, `a duration string such as "500ms" or "1m30s" is required`)
	}
	s := sv.AsString()
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return nil, c.invalid("Invalid duration",
			fmt.Sprintf("%s is not a valid duration for %q. Use a number with a unit, such as \"500ms\", \"30s\" or \"1m30s\" (units: ns, us, ms, s, m, h).",
				capitalize(c.show(s)), c.a.Name))
	}
	if diag := checkBounds(c.a, d.Seconds(), c.rng, c.secret, d.String()); diag != nil {
		return nil, diag
	}
	return d.String(), nil
}

func (c conv) size(v cty.Value) (any, *hcl.Diagnostic) {
	var n int64
	switch v.Type() {
	case cty.Number:
		bf := v.AsBigFloat()
		i, acc := bf.Int64()
		if !bf.IsInt() || acc != big.Exact || i < 0 {
			return nil, c.invalid("Invalid size",
				fmt.Sprintf("A size given as a number for %q is a whole, non-negative number of bytes; use a string such as \"64MiB\" for units.", c.a.Name))
		}
		n = i
	case cty.String:
		s := v.AsString()
		i, err := sdk.ParseSize(s)
		if err != nil {
			return nil, c.invalid("Invalid size",
				fmt.Sprintf("%s is not a valid size for %q. Use a number of bytes or a number with a unit, such as \"64KiB\", \"20MB\" or \"1GiB\".",
					capitalize(c.show(s)), c.a.Name))
		}
		n = i
	default:
		return nil, typeDiag(c.a.Name, c.rng, `a size (a number of bytes, or a string such as "64MiB") is required`)
	}
	if d := checkBounds(c.a, float64(n), c.rng, c.secret, formatSize(float64(n))); d != nil {
		return nil, d
	}
	return n, nil
}

func (c conv) list(v cty.Value) (any, *hcl.Diagnostic) {
	lv, err := convert.Convert(v, cty.List(cty.String))
	if err != nil {
		return nil, c.typeErr(err, "a list of strings is required")
	}
	out := make([]string, 0, lv.LengthInt())
	for i, e := range lv.AsValueSlice() {
		if e.IsNull() {
			return nil, typeDiag(c.a.Name, c.rng, fmt.Sprintf("element %d is null", i))
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

func (c conv) strMap(v cty.Value) (any, *hcl.Diagnostic) {
	mv, err := convert.Convert(v, cty.Map(cty.String))
	if err != nil {
		return nil, c.typeErr(err, "a map of strings is required")
	}
	out := map[string]string{}
	for k, e := range mv.AsValueMap() {
		if e.IsNull() {
			return nil, typeDiag(c.a.Name, c.rng, fmt.Sprintf("element %q is null", k))
		}
		out[k] = e.AsString()
	}
	return out, nil
}

func outOfRange(a sdk.Attribute, rng hcl.Range, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Value out of range",
		Detail:   fmt.Sprintf("Invalid value for %q: %s.", a.Name, detail),
		Subject:  rng.Ptr(),
	}
}

// checkBounds checks x (seconds for durations, bytes for sizes) against a.Min and a.Max.
func checkBounds(a sdk.Attribute, x float64, rng hcl.Range, secret bool, shown string) *hcl.Diagnostic {
	low := a.Min != nil && x < *a.Min
	high := a.Max != nil && x > *a.Max
	if !low && !high {
		return nil
	}
	var want string
	switch {
	case a.Min != nil && a.Max != nil:
		want = fmt.Sprintf("between %s and %s", FormatBound(a.Type, *a.Min), FormatBound(a.Type, *a.Max))
	case a.Min != nil:
		want = "at least " + FormatBound(a.Type, *a.Min)
	default:
		want = "at most " + FormatBound(a.Type, *a.Max)
	}
	got := ""
	if !secret {
		got = "; got " + shown
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Value out of range",
		Detail:   fmt.Sprintf("%q must be %s%s.", a.Name, want, got),
		Subject:  rng.Ptr(),
	}
}

// FormatBound prints a Min or Max of an attribute of type t as users write it: a duration
// ("1s"), a size ("64MiB") or a plain number, never in scientific notation.
func FormatBound(t sdk.Type, b float64) string {
	switch t {
	case sdk.TypeDuration:
		return time.Duration(b * float64(time.Second)).String()
	case sdk.TypeSize:
		return formatSize(b)
	}
	return strconv.FormatFloat(b, 'f', -1, 64)
}

// formatSize prints bytes with the largest binary unit that divides them exactly.
func formatSize(b float64) string {
	n := int64(b)
	if float64(n) != b || n == 0 {
		return strconv.FormatFloat(b, 'f', -1, 64) + " bytes"
	}
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// quoteList renders "a", "b" or "c".
func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
