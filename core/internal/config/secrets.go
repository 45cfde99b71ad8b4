package config

import (
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// masked replaces secret text.
const masked = "***"

// minScrubLen is the shortest secret value scrubbed from diagnostic text: shorter values
// would mangle ordinary words. Ferry never puts secret values into messages itself; the
// scrub is a second line of defence (for messages of functions and plugins).
const minScrubLen = 4

// secretSet holds the source ranges of secret expressions and their values.
type secretSet struct {
	ranges []hcl.Range
	values []string
}

// addValue records the string forms of v's primitive leaves.
func (s *secretSet) addValue(v cty.Value) {
	if v.IsNull() || !v.IsKnown() {
		return
	}
	ty := v.Type()
	switch {
	case ty.IsPrimitiveType():
		if sv, err := convert.Convert(v, cty.String); err == nil {
			s.values = append(s.values, sv.AsString())
		}
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			s.addValue(e)
		}
	}
}

func (s *secretSet) add(o secretSet) {
	s.ranges = append(s.ranges, o.ranges...)
	s.values = append(s.values, o.values...)
}

// blockSecrets are the secrets of one plugin block.
type blockSecrets struct {
	secretSet
	// bodies are the ranges of the block's body and of the template blocks merged into it
	// (native syntax only).
	bodies []hcl.Range
	// precise is set once the plugin's schema is known: guesses inside body are dropped.
	precise bool
}

// secrets returns everything secret the file knows about.
func (f *File) secrets() secretSet {
	var all secretSet
	if f == nil {
		return all
	}
	all.add(f.varSecrets)
	all.add(f.otherSecrets)
	keys := make([]hcl.Pos, 0, len(f.blockSecrets))
	for k := range f.blockSecrets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Byte < keys[j].Byte })
	for _, k := range keys {
		all.add(f.blockSecrets[k].secretSet)
	}
guesses:
	for _, g := range f.guessed {
		for _, b := range f.blockSecrets {
			if !b.precise {
				continue
			}
			for _, body := range b.bodies {
				if body.Filename == g.Filename && body.ContainsOffset(g.Start.Byte) {
					continue guesses
				}
			}
		}
		all.ranges = append(all.ranges, g)
	}
	return all
}

// guessSecrets returns the expression ranges of attributes whose names look secret, in a
// native-syntax body and its nested blocks.
func guessSecrets(body *hclsyntax.Body, out []hcl.Range) []hcl.Range {
	for name, a := range body.Attributes {
		if looksSecret(name) {
			out = append(out, a.Expr.Range())
		}
	}
	for _, b := range body.Blocks {
		out = guessSecrets(b.Body, out)
	}
	return out
}

// scrubber replaces secret values in text, longest first.
func scrubber(values []string) func(string) string {
	var vs []string
	seen := map[string]bool{}
	for _, v := range values {
		if len(v) >= minScrubLen && !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return func(s string) string { return s }
	}
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, masked)
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}

// redact scrubs secret values from the diagnostics' text and drops their evaluation
// contexts (hcl's writers print variable values from them).
func redact(diags hcl.Diagnostics, values []string) hcl.Diagnostics {
	scrub := scrubber(values)
	for _, d := range diags {
		d.Summary = scrub(d.Summary)
		d.Detail = scrub(d.Detail)
		d.EvalContext = nil
	}
	return diags
}

// secretLooking are name fragments that mark an attribute as secret (in snippets only) until
// the schema of its plugin says otherwise.
var secretLooking = []string{"password", "passwd", "secret", "token", "credential", "private_key", "access_key", "api_key"}

func looksSecret(name string) bool {
	n := strings.ToLower(name)
	for _, s := range secretLooking {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
