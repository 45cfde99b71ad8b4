package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/ferry-cdc/ferry/sdk"
)

// decodePluginBlock reads a plugin block's header and reserved attributes (phase 1).
func (f *File) decodePluginBlock(kind sdk.Kind, b *hcl.Block) (PluginBlock, hcl.Diagnostics) {
	pb := PluginBlock{
		Kind:       kind,
		Name:       b.Labels[0],
		DefRange:   b.DefRange,
		LabelRange: b.LabelRanges[0],
		present:    true,
		attrRanges: map[string]hcl.Range{},
		file:       f,
	}
	var diags hcl.Diagnostics
	if strings.TrimSpace(pb.Name) == "" {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Missing %s plugin name", kind),
			Detail:   fmt.Sprintf("The label of a %s block names the plugin, such as %s %q { ... }.", kind, kind, exampleNameOr(kind)),
			Subject:  pb.LabelRange.Ptr(),
		})
	}
	content, remain, d := b.Body.PartialContent(schemaFor(reservedSpec))
	diags = append(diags, d...)
	pb.Body = remain
	dec, d := f.decodeAttrs(content.Attributes, reservedSpec, pb.owner(), pb.DefRange)
	diags = append(diags, d...)
	for k, r := range dec.ranges {
		pb.attrRanges[k] = r
	}
	if p, ok := dec.values["plugin_path"].(string); ok {
		if strings.TrimSpace(p) == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Empty plugin_path",
				Detail:   "plugin_path names the plugin binary to run; leave it out to use the built-in or installed plugin.",
				Subject:  rangePtr(dec.ranges, "plugin_path"),
			})
		} else {
			pb.Path = f.resolvePath(p, dec.ranges["plugin_path"])
		}
	}
	pb.OutOfProcess, _ = dec.values["out_of_process"].(bool)

	// Until Decode knows the plugin's schema, mask what looks secret.
	bs := blockSecrets{bodies: bodyRanges(b.Body)}
	secret := looksSecret
	if f.opts.Specs != nil {
		if spec, ok := f.opts.Specs(kind, pb.Name); ok {
			bs.precise = true
			secret = func(name string) bool {
				a, ok := spec.Attribute(name)
				return ok && a.Secret || !ok && !isReserved(name) && nearSecret(name, spec)
			}
		}
	}
	for _, attr := range allAttributes(remain) {
		if secret(attr.Name) || f.usesSensitive(attr.Expr) {
			bs.ranges = append(bs.ranges, attr.Expr.Range())
		}
	}
	f.blockSecrets[pb.DefRange.Start] = bs
	return pb, diags
}

func isReserved(name string) bool { return contains(sdk.ReservedAttributes, name) }

// bodyRanges returns the ranges of a native-syntax body, or of the native-syntax layers of
// a body merged with templates (none for other syntaxes).
func bodyRanges(body hcl.Body) []hcl.Range {
	switch b := body.(type) {
	case *hclsyntax.Body:
		return []hcl.Range{b.SrcRange}
	case *mergedBody:
		var out []hcl.Range
		for _, l := range b.layers {
			out = append(out, bodyRanges(l)...)
		}
		return out
	}
	return nil
}

func exampleNameOr(kind sdk.Kind) string {
	if n, ok := exampleName[kind]; ok {
		return n
	}
	return "expr"
}

// rawAttributes returns a body's attributes without a schema, ignoring errors (for a merged
// body, the attributes in effect).
func rawAttributes(body hcl.Body) hcl.Attributes {
	switch b := body.(type) {
	case *hclsyntax.Body:
		out := hcl.Attributes{}
		for name, a := range b.Attributes {
			out[name] = a.AsHCLAttribute()
		}
		return out
	case *mergedBody:
		out := hcl.Attributes{}
		for _, l := range b.layers {
			for name, a := range rawAttributes(l) {
				if _, ok := out[name]; !ok {
					out[name] = a
				}
			}
		}
		return out
	}
	attrs, _ := body.JustAttributes()
	return attrs
}

// allAttributes returns the attributes of every layer of a body, those a merge hides too.
func allAttributes(body hcl.Body) []*hcl.Attribute {
	var out []*hcl.Attribute
	if m, ok := body.(*mergedBody); ok {
		for _, l := range m.layers {
			out = append(out, allAttributes(l)...)
		}
		return out
	}
	for _, a := range rawAttributes(body) {
		out = append(out, a)
	}
	return out
}

// owner names the block in messages: `the sink plugin "rocketmq"`.
func (b *PluginBlock) owner() string {
	return fmt.Sprintf("the %s plugin %q", b.Kind, b.Name)
}

// Decode decodes the block's body against the plugin's schema (phase 2) with f's variables
// and functions (nil f: the File the block was parsed from), and returns the plugin's configuration: a JSON object with one member per
// attribute set or defaulted (durations as Go duration strings, sizes as numbers of bytes).
// The JSON may hold secrets: never log it.
//
// Decode records in f which attributes are secret (for WriteDiagnostics) and in b where each
// attribute is set (for AttributeDiagnostics). Unknown attributes and blocks are reported
// with suggestions, missing required attributes at the block header, and bad values at the
// value's expression.
func (b *PluginBlock) Decode(spec sdk.Spec, f *File) ([]byte, hcl.Diagnostics) {
	if f == nil {
		f = b.file
	}
	if f == nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Plugin block without a file",
			Detail:   fmt.Sprintf("%s was not produced by Parse; decode blocks of a parsed File.", capitalize(b.owner())),
		}}
	}
	if err := spec.Validate(); err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid plugin schema",
			Detail:   fmt.Sprintf("%s declares an invalid configuration schema: %v. This is a bug in the plugin.", capitalize(b.owner()), err),
			Subject:  b.DefRange.Ptr(),
		}}
	}
	body := b.Body
	if body == nil {
		body = hcl.EmptyBody()
	}
	content, diags := body.Content(schemaFor(spec, sdk.ReservedAttributes...))
	dec, d := f.decodeAttrs(content.Attributes, spec, b.owner(), b.DefRange)
	diags = append(diags, d...)

	if b.attrRanges == nil {
		b.attrRanges = map[string]hcl.Range{}
	}
	for k, r := range dec.ranges {
		b.attrRanges[k] = r
	}
	bs := blockSecrets{secretSet: dec.secrets, bodies: bodyRanges(b.Body), precise: true}
	// An attribute the plugin does not declare whose name is like a secret one (passwd for
	// password) probably holds the secret: it stays masked, and its value too.
	for _, attr := range allAttributes(body) {
		if _, known := spec.Attribute(attr.Name); known || isReserved(attr.Name) || !nearSecret(attr.Name, spec) {
			continue
		}
		bs.ranges = append(bs.ranges, attr.Expr.Range())
		if v, d := f.eval(attr.Expr); !d.HasErrors() && v.IsWhollyKnown() {
			bs.addValue(v)
		}
	}
	if _, merged := body.(*mergedBody); merged {
		// Secret attributes that a template sets and this block overrides stay masked.
		for _, attr := range allAttributes(body) {
			if a, ok := spec.Attribute(attr.Name); ok && a.Secret || f.usesSensitive(attr.Expr) {
				bs.ranges = append(bs.ranges, attr.Expr.Range())
			}
		}
	}
	f.blockSecrets[b.DefRange.Start] = bs

	diags = f.finish(diags)
	if diags.HasErrors() {
		return nil, diags
	}
	out, err := json.Marshal(dec.values)
	if err != nil { // unreachable: values are strings, numbers, bools, slices and maps
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot encode plugin configuration",
			Detail:   err.Error(),
			Subject:  b.DefRange.Ptr(),
		})
	}
	return out, diags
}

// AttributeDiagnostics turns errors a plugin reported about its attributes into diagnostics
// at the attribute's expression ("name.key" and "name[2]" point at "name"), or at the block
// header when the attribute is not set in the file. Call it after Decode. Known secret
// values are scrubbed from the plugin's messages.
func (b *PluginBlock) AttributeDiagnostics(errs []*sdk.AttributeError) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, e := range errs {
		if e == nil {
			continue
		}
		base := e.Attribute
		if i := strings.IndexAny(base, ".["); i >= 0 {
			base = base[:i]
		}
		subject := b.DefRange
		where := fmt.Sprintf("Reported by %s about %q.", b.owner(), e.Attribute)
		if r, ok := b.attrRanges[base]; ok {
			subject = r
		} else {
			where = fmt.Sprintf("Reported by %s about %q, which is not set in this block (its default applies).", b.owner(), e.Attribute)
		}
		summary := capitalize(e.Summary)
		if summary == "" {
			summary = fmt.Sprintf("Invalid value for %q", e.Attribute)
		}
		detail := where
		if d := strings.TrimSpace(e.Detail); d != "" {
			if !strings.HasSuffix(d, ".") && !strings.HasSuffix(d, "?") && !strings.HasSuffix(d, "!") {
				d += "."
			}
			detail = d + " " + where
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   detail,
			Subject:  subject.Ptr(),
		})
	}
	SortDiagnostics(diags)
	return redact(diags, b.file.secrets().values)
}
