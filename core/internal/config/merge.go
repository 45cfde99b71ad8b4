package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// mergedBody is a block body made of layers, the first one winning: a block of the pipeline
// file over the matching blocks of its templates (the last listed template first).
//
//   - An attribute comes from the first layer that sets it.
//   - Nested blocks are taken as a whole: all blocks of one type come from the first layer
//     that has any block of that type.
//
// Each layer is checked against the schema on its own, so an unknown attribute is reported
// in the file where it is written. Required attributes are checked once, on the merged
// result, at the first layer's missing-item range.
type mergedBody struct {
	layers []hcl.Body
}

var _ hcl.Body = (*mergedBody)(nil)

// mergeBodies returns bodies merged, first winning; a single body is returned as is.
func mergeBodies(bodies ...hcl.Body) hcl.Body {
	var layers []hcl.Body
	for _, b := range bodies {
		if b == nil {
			continue
		}
		if m, ok := b.(*mergedBody); ok {
			layers = append(layers, m.layers...)
			continue
		}
		layers = append(layers, b)
	}
	switch len(layers) {
	case 0:
		return hcl.EmptyBody()
	case 1:
		return layers[0]
	}
	return &mergedBody{layers: layers}
}

// optionalSchema returns schema with every attribute optional (required ones are checked
// after merging).
func optionalSchema(schema *hcl.BodySchema) (*hcl.BodySchema, []string) {
	var required []string
	out := &hcl.BodySchema{Blocks: schema.Blocks}
	for _, a := range schema.Attributes {
		if a.Required {
			required = append(required, a.Name)
			a.Required = false
		}
		out.Attributes = append(out.Attributes, a)
	}
	return out, required
}

func (m *mergedBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	opt, required := optionalSchema(schema)
	contents := make([]*hcl.BodyContent, len(m.layers))
	var diags hcl.Diagnostics
	for i, l := range m.layers {
		c, d := l.Content(opt)
		diags = append(diags, d...)
		contents[i] = c
	}
	out := m.merge(schema, contents)
	return out, append(diags, m.checkRequired(out, required)...)
}

func (m *mergedBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	opt, required := optionalSchema(schema)
	contents := make([]*hcl.BodyContent, len(m.layers))
	remains := make([]hcl.Body, len(m.layers))
	var diags hcl.Diagnostics
	for i, l := range m.layers {
		c, r, d := l.PartialContent(opt)
		diags = append(diags, d...)
		contents[i], remains[i] = c, r
	}
	out := m.merge(schema, contents)
	return out, &mergedBody{layers: remains}, append(diags, m.checkRequired(out, required)...)
}

func (m *mergedBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	out := hcl.Attributes{}
	var diags hcl.Diagnostics
	for _, l := range m.layers {
		attrs, d := l.JustAttributes()
		diags = append(diags, d...)
		for name, a := range attrs {
			if _, ok := out[name]; !ok {
				out[name] = a
			}
		}
	}
	return out, diags
}

func (m *mergedBody) MissingItemRange() hcl.Range {
	return m.layers[0].MissingItemRange()
}

// merge combines the layers' contents: attributes first layer wins, blocks by type.
func (m *mergedBody) merge(schema *hcl.BodySchema, contents []*hcl.BodyContent) *hcl.BodyContent {
	out := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: m.MissingItemRange()}
	for _, c := range contents {
		if c == nil {
			continue
		}
		for name, a := range c.Attributes {
			if _, ok := out.Attributes[name]; !ok {
				out.Attributes[name] = a
			}
		}
	}
	for _, bs := range schema.Blocks {
		for _, c := range contents {
			if c == nil {
				continue
			}
			of := c.Blocks.OfType(bs.Type)
			if len(of) > 0 {
				out.Blocks = append(out.Blocks, of...)
				break
			}
		}
	}
	return out
}

func (m *mergedBody) checkRequired(c *hcl.BodyContent, required []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range required {
		if _, ok := c.Attributes[name]; !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("The argument %q is required, but it is set neither here nor in a template.", name),
				Subject:  m.MissingItemRange().Ptr(),
			})
		}
	}
	return diags
}
