package config

import (
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/ferry-cdc/ferry/sdk"
)

// masked replaces secret text.
const masked = "***"

// Secret values are masked in text (messages of hcl, functions, plugins, and the source
// lines of snippets outside secret expressions) where they stand as a value, not wherever
// their text happens to occur: a password "ferry" must not turn a table
// "ferry_shop.orders" or a path "/home/ferry/bin" into "***". A value is masked
//   - anywhere, when it is at least longSecret bytes long (random keys and tokens: such a
//     string does not occur by chance);
//   - as a whole token otherwise: not glued to letters, digits or '_' on either side ('.',
//     '/' and '-' glue too when a letter or digit follows them on the far side), so
//     "user:ferry@tcp", "password ferry.", "'ferry'" and "=ferry&" are masked;
//   - when shorter than minTokenLen, only in value positions: after a quote, ':' or '=' and
//     before a quote, '@', ',', ';', '&', a space or the end.
//
// Ferry never puts secret values into messages itself; this is a second line of defence.
const (
	longSecret  = 16
	minTokenLen = 4
)

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

// scrubber returns a function masking values in text (see longSecret), longest first.
func scrubber(values []string) func(string) string {
	var vs []string
	seen := map[string]bool{}
	for _, v := range values {
		if v != "" && strings.TrimSpace(v) != "" && !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return func(s string) string { return s }
	}
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	return func(s string) string { return maskValues(s, vs) }
}

func maskValues(s string, vs []string) string {
	var b strings.Builder
	last := 0 // s[last:i] is not written yet
	for i := 0; i < len(s); {
		n := 0
		for _, v := range vs {
			if strings.HasPrefix(s[i:], v) && maskableAt(s, i, i+len(v), len(v)) {
				n = len(v)
				break
			}
		}
		if n == 0 {
			i++
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(masked)
		i += n
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// maskableAt reports whether the n bytes s[i:j] of a secret stand as a value.
func maskableAt(s string, i, j, n int) bool {
	if n >= longSecret {
		return true
	}
	if n < minTokenLen {
		before := i == 0 || strings.IndexByte("\"':=", s[i-1]) >= 0
		after := j == len(s) || strings.IndexByte("\"'@,;& \t\n)", s[j]) >= 0
		return before && after
	}
	return !gluedBefore(s, i) && !gluedAfter(s, j)
}

func wordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func joinerByte(c byte) bool { return c == '.' || c == '/' || c == '-' }

func gluedBefore(s string, i int) bool {
	if i == 0 {
		return false
	}
	c := s[i-1]
	return wordByte(c) || joinerByte(c) && i >= 2 && wordByte(s[i-2])
}

func gluedAfter(s string, j int) bool {
	if j >= len(s) {
		return false
	}
	c := s[j]
	return wordByte(c) || joinerByte(c) && j+1 < len(s) && wordByte(s[j+1])
}

// Redact masks the secret values the file knows (secret attributes of the plugins decoded
// so far, sensitive variables and what is computed from them) in text that is not a
// diagnostic: precheck details, errors and log lines.
func (f *File) Redact(s string) string { return scrubber(f.secrets().values)(s) }

// Redactor returns Redact for the secrets known now (cheaper for many strings).
func (f *File) Redactor() func(string) string { return scrubber(f.secrets().values) }

// secretLine finds a secret-looking name followed by '=', '==' or ':' on a source line.
var secretLine = regexp.MustCompile(`(?i)[a-z0-9_-]*(?:password|passwd|secret|token|credential|private_key|access_key|api_key)[a-z0-9_-]*"?\s*(?:==?|:)\s*`)

// guessLines returns, for a file that did not parse, the ranges from each secret-looking
// assignment to the end of its line: its attributes are unknown, so its snippets would
// otherwise print the values.
func guessLines(filename string, src []byte) []hcl.Range {
	var out []hcl.Range
	off := 0
	for _, line := range strings.SplitAfter(string(src), "\n") {
		text := strings.TrimRight(line, "\r\n")
		for _, m := range secretLine.FindAllStringIndex(text, -1) {
			if m[1] < len(text) {
				out = append(out, hcl.Range{Filename: filename,
					Start: hcl.Pos{Byte: off + m[1]}, End: hcl.Pos{Byte: off + len(text)}})
				break
			}
		}
		off += len(line)
	}
	return out
}

// nearSecret reports whether an attribute the schema does not declare is probably a
// misspelled secret: its name looks secret or is close to a secret attribute's name.
func nearSecret(name string, spec sdk.Spec) bool {
	if looksSecret(name) {
		return true
	}
	var secrets []string
	for _, a := range spec.Attributes {
		if a.Secret {
			secrets = append(secrets, a.Name)
		}
	}
	return Suggest(name, secrets) != ""
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
