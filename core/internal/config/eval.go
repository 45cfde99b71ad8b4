package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions returns the functions available in expressions of a file in dir.
func (f *File) functions(dir string) map[string]function.Function {
	return map[string]function.Function{
		"env":       envFunc(f.opts.Env),
		"file":      fileFunc(dir, f.opts.ReadFile),
		"upper":     stdlib.UpperFunc,
		"lower":     stdlib.LowerFunc,
		"format":    stdlib.FormatFunc,
		"join":      stdlib.JoinFunc,
		"split":     stdlib.SplitFunc,
		"trimspace": stdlib.TrimSpaceFunc,
		"concat":    stdlib.ConcatFunc,
		"coalesce":  stdlib.CoalesceFunc,
		"tostring":  stdlib.MakeToFunc(cty.String),
		"tonumber":  stdlib.MakeToFunc(cty.Number),
		"tobool":    stdlib.MakeToFunc(cty.Bool),
	}
}

// envFunc is env(name) and env(name, default).
func envFunc(lookup func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default when it is not set.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, function.NewArgErrorf(2, "env takes a name and an optional default")
			}
			name := args[0].AsString()
			if v, ok := lookup(name); ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, fmt.Errorf("environment variable %q is not set (give a default with env(%q, \"...\") if it is optional)", name, name)
		},
	})
}

// fileFunc is file(path), relative to dir; the content is returned as is.
func fileFunc(dir string, read func(string) ([]byte, error)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the content of a file, relative to the directory of the file that calls it.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			p := name
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := read(p)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return cty.NilVal, fmt.Errorf("file %q does not exist (relative paths start at the directory of the file that calls file())", name)
				}
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return cty.NilVal, fmt.Errorf("cannot read file %q: %v", name, err)
			}
			if !utf8.Valid(b) {
				return cty.NilVal, fmt.Errorf("file %q is not valid UTF-8 text", name)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}

// buildContexts makes the evaluation contexts of every file once the variables are known.
func (f *File) buildContexts() {
	vals := map[string]cty.Value{}
	for name, v := range f.vars {
		vals[name] = v.value
	}
	vars := map[string]cty.Value{"var": cty.ObjectVal(vals)}
	for _, s := range f.sources {
		s.ctx = &hcl.EvalContext{Variables: vars, Functions: s.fnCtx.Functions}
	}
}

// ctxFor returns the evaluation context of the file expr is written in: file() reads
// relative to that file's directory.
func (f *File) ctxFor(expr hcl.Expression) *hcl.EvalContext {
	if s := f.sourceOf(expr.Range().Filename); s != nil {
		return s.ctx
	}
	return nil
}

// varNames returns the declared variable names, sorted.
func (f *File) varNames() []string {
	names := make([]string, 0, len(f.vars))
	for n := range f.vars {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkRefs reports references that are not var.NAME of a declared variable, with
// suggestions, at the reference's range.
func (f *File) checkRefs(expr hcl.Expression) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range expr.Variables() {
		rng := t.SourceRange()
		root := t.RootName()
		if root != "var" {
			hint := ""
			if _, ok := f.vars[root]; ok {
				hint = fmt.Sprintf(" Did you mean \"var.%s\"?", root)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown reference",
				Detail:   fmt.Sprintf("There is nothing named %q; variables are referenced as var.NAME.%s", root, hint),
				Subject:  &rng,
			})
			continue
		}
		var name string
		if len(t) >= 2 {
			if a, ok := t[1].(hcl.TraverseAttr); ok {
				name = a.Name
			}
		}
		if name == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable reference",
				Detail:   "A variable is referenced as var.NAME.",
				Subject:  &rng,
			})
			continue
		}
		if _, ok := f.vars[name]; !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Reference to undeclared variable",
				Detail: fmt.Sprintf("There is no variable named %q.%s Declare it with a variable %q {} block.",
					name, didYouMean(name, f.varNames()), name),
				Subject: &rng,
			})
		}
	}
	return diags
}

// eval evaluates an expression with variables and functions. A result that is not wholly
// known comes from a variable without a value (already reported): callers skip it.
func (f *File) eval(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	if diags := f.checkRefs(expr); diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return expr.Value(f.ctxFor(expr))
}

// usesSensitive reports whether expr references a sensitive variable.
func (f *File) usesSensitive(expr hcl.Expression) bool {
	for _, t := range expr.Variables() {
		if t.RootName() != "var" || len(t) < 2 {
			continue
		}
		if a, ok := t[1].(hcl.TraverseAttr); ok {
			if v := f.vars[a.Name]; v != nil && v.Sensitive {
				return true
			}
		}
	}
	return false
}
