package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/ferry-cdc/ferry/sdk"
)

// Template is a template file the pipeline file references with template = "...".
//
// A template holds variable blocks and one defaults block with runtime, checkpoint, limits
// and resources blocks and source, serializer and sink blocks. For each of the pipeline's
// blocks, the attributes the pipeline does not set are taken from the matching block of the
// templates (plugin blocks match by kind and name); a nested block type (such as limits'
// full) is taken as a whole; a runtime, checkpoint, limits or resources block only in a
// template is used as is. When several templates are listed, a later one wins over an
// earlier one, and the pipeline file wins over all.
type Template struct {
	// Filename is the template's name in diagnostics: the path written in the pipeline file,
	// joined to the directory of the pipeline file's Filename.
	Filename string
	// Path is the absolute path of the template file.
	Path string
	// Range is where the pipeline file names the template.
	Range hcl.Range

	defaults *templateDefaults
}

// templateDefaults is a template's defaults block, split by block.
type templateDefaults struct {
	blocks  map[string]*hcl.Block // runtime, checkpoint, limits, resources
	plugins map[string]*hcl.Block // "kind/name"
}

var templateRootSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "template"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "defaults"},
		{Type: "pipeline", LabelNames: []string{"name"}},
	},
}

// templateSettingBlocks are the blocks of a defaults block that are not plugins.
var templateSettingBlocks = []string{"runtime", "checkpoint", "limits", "resources", "retention"}

var defaultsSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, k := range pluginKinds {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: string(k), LabelNames: []string{"name"}})
	}
	for _, t := range templateSettingBlocks {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: t})
	}
	// objects is in the schema (like filter) to be refused with a message of its own.
	s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: "objects"})
	return s
}()

// templatePaths evaluates the pipeline file's template attribute: a string or a list of
// strings. Functions such as env() may be used, variables may not (templates declare some).
func (f *File) templatePaths(attr *hcl.Attribute) ([]string, []hcl.Range, hcl.Diagnostics) {
	diags := noVariables(attr.Expr, "The template paths are read before any variable has a value (templates may declare variables): use literal paths, or functions such as env().")
	if len(diags) > 0 {
		return nil, nil, diags
	}
	v, d := attr.Expr.Value(f.sources[f.Filename].fnCtx)
	diags = append(diags, d...)
	if d.HasErrors() || v.IsNull() || !v.IsWhollyKnown() {
		return nil, nil, diags
	}
	rng := attr.Expr.Range()
	bad := func(what string) hcl.Diagnostics {
		return append(diags, typeDiag("template", rng, what))
	}
	var vals []cty.Value
	switch ty := v.Type(); {
	case ty == cty.String:
		vals = []cty.Value{v}
	case ty.IsTupleType() || ty.IsListType():
		vals = v.AsValueSlice()
	default:
		return nil, nil, bad(`a path ("shared/settings.hcl") or a list of paths is required`)
	}
	var paths []string
	var ranges []hcl.Range
	for i, e := range vals {
		erng := rng
		if len(vals) > 1 || v.Type() != cty.String {
			erng = elemRange(attr.Expr, i)
		}
		sv, err := convert.Convert(e, cty.String)
		if err != nil || sv.IsNull() {
			diags = append(diags, typeDiag("template", erng, fmt.Sprintf("element %d must be a path string", i)))
			continue
		}
		p := sv.AsString()
		if strings.TrimSpace(p) == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Empty template path",
				Detail:   "A template is named by its path, relative to this file's directory, such as \"shared/settings.hcl\".",
				Subject:  erng.Ptr(),
			})
			continue
		}
		paths = append(paths, p)
		ranges = append(ranges, erng)
	}
	return paths, ranges, diags
}

// loadTemplates reads, parses and checks the templates the pipeline file names, in order.
// It registers each template's source (for snippets) and returns the templates' variable
// blocks, to be declared before the pipeline file's own.
func (f *File) loadTemplates(attr *hcl.Attribute) ([]*hcl.Block, hcl.Diagnostics) {
	paths, ranges, diags := f.templatePaths(attr)
	self := filepath.Join(f.Dir, filepath.Base(f.Filename))
	seen := map[string]hcl.Range{}
	var varBlocks []*hcl.Block
	for i, p := range paths {
		rng := ranges[i]
		abs, name := p, filepath.Clean(p)
		if !filepath.IsAbs(p) {
			abs = filepath.Join(f.Dir, p)
			name = filepath.Join(filepath.Dir(f.Filename), p)
		}
		abs = filepath.Clean(abs)
		if abs == self {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Pipeline file used as its own template",
				Detail:   fmt.Sprintf("%q is this pipeline file. A template is a separate file with variable blocks and a defaults { ... } block.", p),
				Subject:  rng.Ptr(),
			})
			continue
		}
		if prev, dup := seen[abs]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate template",
				Detail:   fmt.Sprintf("%q is already listed (line %d, column %d); list each template once.", p, prev.Start.Line, prev.Start.Column),
				Subject:  rng.Ptr(),
			})
			continue
		}
		seen[abs] = rng
		src, err := f.opts.ReadFile(abs)
		if err != nil {
			detail := fmt.Sprintf("Cannot read template %q: %v.", p, unwrapPathErr(err))
			if errors.Is(err, fs.ErrNotExist) {
				detail = fmt.Sprintf("Template %q does not exist (looked for %s; relative paths start at this file's directory).", p, name)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read template",
				Detail:   detail,
				Subject:  rng.Ptr(),
			})
			continue
		}
		t := &Template{Filename: name, Path: abs, Range: rng}
		vb, d := f.parseTemplate(t, src)
		diags = append(diags, d...)
		varBlocks = append(varBlocks, vb...)
		f.Templates = append(f.Templates, t)
	}
	// Levels: the pipeline file is 0, the last template 1, the first len(Templates).
	for i, t := range f.Templates {
		if s := f.sources[t.Filename]; s != nil {
			s.level = len(f.Templates) - i
		}
	}
	return varBlocks, diags
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parseTemplate parses one template and reads its defaults block.
func (f *File) parseTemplate(t *Template, src []byte) ([]*hcl.Block, hcl.Diagnostics) {
	var hf *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(t.Filename, ".json") {
		hf, diags = hcljson.Parse(src, t.Filename)
	} else {
		hf, diags = hclsyntax.ParseConfig(src, t.Filename, hcl.InitialPos)
	}
	if hf == nil {
		hf = &hcl.File{Bytes: src}
	}
	f.addSource(t.Filename, filepath.Dir(t.Path), hf)
	if sb, ok := hf.Body.(*hclsyntax.Body); ok {
		f.guessed = guessSecrets(sb, f.guessed)
	}
	if diags.HasErrors() {
		f.guessed = append(f.guessed, guessLines(t.Filename, src)...)
	}
	t.defaults = &templateDefaults{blocks: map[string]*hcl.Block{}, plugins: map[string]*hcl.Block{}}
	if diags.HasErrors() || hf.Body == nil {
		return nil, diags
	}
	content, d := hf.Body.Content(templateRootSchema)
	diags = append(diags, d...)
	if a, ok := content.Attributes["template"]; ok {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Template in a template",
			Detail:   `Templates cannot reference other templates. List every template in the pipeline file instead, in order (a later one wins over an earlier one), such as template = ["base.hcl", "team.hcl"].`,
			Subject:  a.NameRange.Ptr(),
		})
	}
	var vars []*hcl.Block
	var defaults *hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			vars = append(vars, b)
		case "pipeline":
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Pipeline block in a template",
				Detail: fmt.Sprintf("A template holds variable blocks and one defaults { ... } block with the settings it shares; the pipeline itself is defined in the file that names the template. Rename this block to defaults, or run %s as a pipeline file.",
					t.Filename),
				Subject: b.DefRange.Ptr(),
			})
		case "defaults":
			if defaults != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate defaults block",
					Detail:   fmt.Sprintf("A template has at most one defaults block; the first one is on line %d.", defaults.DefRange.Start.Line),
					Subject:  b.DefRange.Ptr(),
				})
				continue
			}
			defaults = b
			diags = append(diags, t.defaults.read(b)...)
		}
	}
	return vars, diags
}

// read splits a defaults block by block type (and plugin kind and name).
func (td *templateDefaults) read(b *hcl.Block) hcl.Diagnostics {
	content, diags := b.Body.Content(defaultsSchema)
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "objects", string(sdk.KindFilter):
			what := "The objects block"
			if blk.Type != "objects" {
				what = "A filter block"
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("%s block in a template", capitalize(blk.Type)),
				Detail: fmt.Sprintf("%s cannot be shared through a template: it belongs to each pipeline. A template's defaults block holds runtime, checkpoint, limits and resources blocks and source, serializer and sink blocks.",
					what),
				Subject: blk.DefRange.Ptr(),
			})
			continue
		case "runtime", "checkpoint", "limits", "resources", "retention":
			if first, dup := td.blocks[blk.Type]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Duplicate %s block", blk.Type),
					Detail:   fmt.Sprintf("A defaults block has at most one %s block; the first one is on line %d.", blk.Type, first.DefRange.Start.Line),
					Subject:  blk.DefRange.Ptr(),
				})
				continue
			}
			td.blocks[blk.Type] = blk
			continue
		}
		key := blk.Type + "/" + blk.Labels[0]
		if first, dup := td.plugins[key]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", blk.Type),
				Detail: fmt.Sprintf("The defaults for the %s plugin %q are already given on line %d. A template may hold defaults for several %s plugins, one block each.",
					blk.Type, blk.Labels[0], first.DefRange.Start.Line, blk.Type),
				Subject: blk.DefRange.Ptr(),
			})
			continue
		}
		td.plugins[key] = blk
	}
	return diags
}

// templateBlocks returns the templates' blocks for key (a setting block's type or a plugin's
// "kind/name"), the last template first.
func (f *File) templateBlocks(key string, plugin bool) []*hcl.Block {
	var out []*hcl.Block
	for i := len(f.Templates) - 1; i >= 0; i-- {
		td := f.Templates[i].defaults
		if td == nil {
			continue
		}
		m := td.blocks
		if plugin {
			m = td.plugins
		}
		if b := m[key]; b != nil {
			out = append(out, b)
		}
	}
	return out
}

// withTemplates returns the pipeline's block of type typ merged with the templates' blocks
// of that type: the pipeline's block (nil when absent) over the last template's, and so on.
// It returns nil when no file has such a block, and b itself when no template has one.
func (f *File) withTemplates(typ string, b *hcl.Block) *hcl.Block {
	return mergeBlock(b, f.templateBlocks(typ, false))
}

// pluginWithTemplates merges a pipeline plugin block with the templates' defaults for the
// same kind and name. Plugin blocks are never added from templates.
func (f *File) pluginWithTemplates(b *hcl.Block) *hcl.Block {
	if len(b.Labels) == 0 {
		return b
	}
	return mergeBlock(b, f.templateBlocks(b.Type+"/"+b.Labels[0], true))
}

func mergeBlock(b *hcl.Block, tmpl []*hcl.Block) *hcl.Block {
	if len(tmpl) == 0 {
		return b
	}
	var bodies []hcl.Body
	head := tmpl[0]
	if b != nil {
		bodies = append(bodies, b.Body)
		head = b
	}
	for _, t := range tmpl {
		bodies = append(bodies, t.Body)
	}
	out := *head
	out.Body = mergeBodies(bodies...)
	return &out
}
