package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/ferry-cdc/ferry/core/internal/objects"
)

// ObjectsHCL renders a selection as an objects block, indented by indent.
func ObjectsHCL(sel *objects.Selection, indent string, keepExclude string) []byte {
	var b strings.Builder
	in2, in3 := indent+"  ", indent+"    "
	b.WriteString(indent + "objects {\n")
	add := func(typ string, o objects.Object) {
		fmt.Fprintf(&b, "%s%s %s {", in2, typ, quoteHCL(o.Name()))
		var attrs []string
		if o.Topic != "" {
			attrs = append(attrs, "topic = "+quoteHCL(o.Topic))
		}
		if o.Where != "" {
			attrs = append(attrs, "where = "+quoteHCL(o.Where))
		}
		if len(o.Columns) > 0 {
			attrs = append(attrs, "columns = "+listHCL(o.Columns))
		}
		if len(o.ShardingColumns) > 0 {
			attrs = append(attrs, "sharding_columns = "+listHCL(o.ShardingColumns))
		}
		if len(attrs) == 0 {
			b.WriteString("}\n")
			return
		}
		b.WriteString("\n")
		for _, a := range attrs {
			b.WriteString(in3 + a + "\n")
		}
		b.WriteString(in2 + "}\n")
	}
	for _, t := range sel.Tables {
		add("table", t)
	}
	for _, r := range sel.Rules {
		add("rule", r)
	}
	switch {
	case len(sel.Exclude) > 0:
		b.WriteString(in2 + "exclude = " + listHCL(sel.Exclude) + "\n")
	case keepExclude != "":
		b.WriteString(in2 + "exclude = " + keepExclude + "\n")
	}
	b.WriteString(indent + "}\n")
	return []byte(b.String())
}

// quoteHCL quotes s as an HCL string literal: JSON escapes (which HCL reads alike), and
// "${" / "%{" escaped so that ferry's ${db} and ${table} stay text for ferry to expand.
func quoteHCL(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	q := strings.TrimSuffix(buf.String(), "\n")
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

func listHCL(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = quoteHCL(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// ReplaceObjectsBlock rewrites the pipeline file with sel as its objects block (the rest of
// the file is kept byte for byte; an existing exclude list is kept when sel has none) and
// returns the new text.
func ReplaceObjectsBlock(src []byte, filename string, sel *objects.Selection) ([]byte, error) {
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil, errors.New("not native HCL syntax")
	}
	for _, p := range body.Blocks {
		if p.Type != "pipeline" {
			continue
		}
		for _, b := range p.Body.Blocks {
			if b.Type != "objects" {
				continue
			}
			keep := ""
			if ex, ok := b.Body.Attributes["exclude"]; ok {
				r := ex.Expr.Range()
				keep = string(src[r.Start.Byte:r.End.Byte])
			}
			r := b.Range()
			lineStart := bytes.LastIndexByte(src[:r.Start.Byte], '\n') + 1
			indent := string(src[lineStart:r.Start.Byte])
			if strings.TrimSpace(indent) != "" {
				indent = "  "
				lineStart = r.Start.Byte
			}
			end := r.End.Byte
			if end < len(src) && src[end] == '\n' {
				end++
			}
			out := append([]byte{}, src[:lineStart]...)
			out = append(out, ObjectsHCL(sel, indent, keep)...)
			return append(out, src[end:]...), nil
		}
		// no objects block: insert one before the pipeline's closing brace
		end := p.Body.SrcRange.End.Byte - 1
		out := append([]byte{}, src[:end]...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, ObjectsHCL(sel, "  ", "")...)
		return append(out, src[end:]...), nil
	}
	return nil, errors.New("no pipeline block")
}
