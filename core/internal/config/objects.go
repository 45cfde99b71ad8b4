package config

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/ferry-cdc/ferry/core/internal/objects"
	"github.com/ferry-cdc/ferry/core/internal/objects/where"
	"github.com/ferry-cdc/ferry/sdk"
)

// Objects is the pipeline's objects block: which tables, which rows and columns, where to.
//
//	objects {
//	  table "shop.orders" { topic = "orders"  where = "..."  columns = [...]  sharding_columns = [...] }
//	  rule "shop.order_item_*" { topic = "${db}_${table}" }
//	  exclude = ["shop.*_bak"]
//	}
type Objects struct {
	// Selection is the decoded block (empty when the pipeline has no objects block).
	objects.Selection
	// Present is set when the file has an objects block.
	Present bool
	// DefRange is the block header (zero when there is none).
	DefRange hcl.Range
	// TableAt and RuleAt say where each entry of Tables and Rules is written (same order).
	TableAt, RuleAt []ObjectAt
}

// ObjectAt is where a table entry or rule is written: its header and its attributes'
// expressions (topic, where, columns, sharding_columns).
type ObjectAt struct {
	Def   hcl.Range
	Attrs map[string]hcl.Range
}

// Range returns the range of the attribute name, else the header.
func (a ObjectAt) Range(name string) hcl.Range {
	if r, ok := a.Attrs[name]; ok {
		return r
	}
	return a.Def
}

// Locate returns where the entry that selects table db.name is written: its table entry,
// else the first matching rule (as Selection.Resolve decides); false when none selects it.
func (o *Objects) Locate(db, name string) (ObjectAt, bool) {
	for i, t := range o.Tables {
		if strings.EqualFold(t.Database, db) && strings.EqualFold(t.Table, name) && i < len(o.TableAt) {
			return o.TableAt[i], true
		}
	}
	if _, how, rule := o.Resolve(db, name); how == objects.ByRule && rule >= 0 && rule < len(o.RuleAt) {
		return o.RuleAt[rule], true
	}
	return ObjectAt{}, false
}

var objectsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "exclude"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "table", LabelNames: []string{"name"}},
		{Type: "rule", LabelNames: []string{"pattern"}},
	},
}

var objectSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "where", Type: sdk.TypeString, Doc: "Row filter: a SQL condition without WHERE over the table's columns."},
	{Name: "columns", Type: sdk.TypeStringList, Doc: "Columns sent in messages (default all)."},
	{Name: "sharding_columns", Type: sdk.TypeStringList, Doc: "Columns choosing the queue and the order (default the key)."},
}}

var excludeSpec = sdk.Spec{Attributes: []sdk.Attribute{{Name: "exclude", Type: sdk.TypeStringList}}}

func (f *File) decodeObjects(b *hcl.Block) (Objects, hcl.Diagnostics) {
	var o Objects
	if b == nil {
		return o, nil
	}
	o.Present, o.DefRange = true, b.DefRange
	content, diags := b.Body.Content(objectsSchema)
	tables, d := f.decodeObjectEntries(&o, content.Blocks)
	diags = append(diags, d...)
	if attr, ok := content.Attributes["exclude"]; ok {
		diags = append(diags, f.decodeExclude(&o, content.Attributes, attr, b.DefRange, tables)...)
	}
	if len(content.Blocks) == 0 && !hasRawBlock(b.Body, "table") && !hasRawBlock(b.Body, "rule") {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty objects block",
			Detail:  `The objects block selects nothing: add table "db.table" { ... } or rule "db.*" { ... } blocks, or remove the block.`,
			Subject: b.DefRange.Ptr()})
	}
	return o, diags
}

// listedAt is where a table entry is: its name as written and its line.
type listedAt struct {
	name string
	line int
}

// decodeObjectEntries decodes the table and rule blocks into o.Tables and o.Rules, and
// reports bad names and duplicates. It returns where each table entry is, by lower-case
// name.
func (f *File) decodeObjectEntries(o *Objects, blocks hcl.Blocks) (map[string]listedAt, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	tables := map[string]listedAt{}
	rules := map[string]int{}
	for _, blk := range blocks {
		label := blk.Labels[0]
		isRule := blk.Type == "rule"
		db, name, err := objects.SplitName(label, isRule)
		if err != nil {
			summary := "Invalid table name"
			if isRule {
				summary = "Invalid rule pattern"
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
				Detail:  err.Error() + ". Write db.table" + map[bool]string{true: ", with '*' for any run of characters.", false: "."}[isRule],
				Subject: blk.LabelRanges[0].Ptr()})
		}
		obj, at, d := f.decodeObject(blk, isRule)
		diags = append(diags, d...)
		if err != nil {
			continue
		}
		obj.Database, obj.Table = db, name
		key := strings.ToLower(label)
		if isRule {
			if line, dup := rules[key]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate rule",
					Detail:  fmt.Sprintf("A rule for %q is already defined on line %d; the first matching rule wins, so this one would never apply.", label, line),
					Subject: blk.LabelRanges[0].Ptr()})
				continue
			}
			rules[key] = blk.DefRange.Start.Line
			o.Rules = append(o.Rules, obj)
			o.RuleAt = append(o.RuleAt, at)
			continue
		}
		if prev, dup := tables[key]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate table",
				Detail:  fmt.Sprintf("Table %q is already listed on line %d (as %q); list each table once.", label, prev.line, prev.name),
				Subject: blk.LabelRanges[0].Ptr()})
			continue
		}
		tables[key] = listedAt{label, blk.DefRange.Start.Line}
		o.Tables = append(o.Tables, obj)
		o.TableAt = append(o.TableAt, at)
	}
	return tables, diags
}

// decodeExclude decodes the exclude patterns (attribute attr of the objects block at def)
// into o.Exclude; a pattern that excludes a listed table is an error.
func (f *File) decodeExclude(o *Objects, attrs hcl.Attributes, attr *hcl.Attribute, def hcl.Range, tables map[string]listedAt) hcl.Diagnostics {
	dec, diags := f.decodeAttrs(attrs, excludeSpec, "the objects block", def)
	list, _ := dec.values["exclude"].([]string)
	for i, pat := range list {
		rng := elemRange(attr.Expr, i)
		if _, _, err := objects.SplitName(pat, true); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid exclude pattern",
				Detail: err.Error() + ". Write db.table, with '*' for any run of characters.", Subject: rng.Ptr()})
			continue
		}
		for _, t := range o.Tables {
			if objects.Match(pat, t.Database, t.Table) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Table both listed and excluded",
					Detail: fmt.Sprintf("%q excludes %s, which is listed as a table on line %d. Excludes apply to rules only: remove the table or narrow the pattern.",
						pat, t.Name(), tables[strings.ToLower(t.Name())].line),
					Subject: rng.Ptr()})
			}
		}
		o.Exclude = append(o.Exclude, pat)
	}
	return diags
}

// elemRange is the range of element i of a list expression, else the whole expression.
func elemRange(expr hcl.Expression, i int) hcl.Range {
	if t, ok := expr.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
		return t.Exprs[i].Range()
	}
	return expr.Range()
}

// decodeObject decodes the body of a table or rule block.
func (f *File) decodeObject(blk *hcl.Block, isRule bool) (objects.Object, ObjectAt, hcl.Diagnostics) {
	var obj objects.Object
	owner := fmt.Sprintf("the %s %q", blk.Type, blk.Labels[0])
	content, diags := blk.Body.Content(schemaFor(objectSpec, "topic"))
	dec, d := f.decodeAttrs(content.Attributes, objectSpec, owner, blk.DefRange)
	diags = append(diags, d...)
	at := ObjectAt{Def: blk.DefRange, Attrs: map[string]hcl.Range{}}
	for name, a := range content.Attributes {
		at.Attrs[name] = a.Expr.Range()
	}

	if attr, ok := content.Attributes["topic"]; ok {
		t, d := f.evalTopic(attr.Expr)
		diags = append(diags, d...)
		obj.Topic = t
		if f.usesSensitive(attr.Expr) {
			// A topic computed from a sensitive variable is masked like it (for a table
			// entry its name is known; a rule's topics mask the template's value only).
			f.otherSecrets.ranges = append(f.otherSecrets.ranges, attr.Expr.Range())
			if t != "" {
				f.otherSecrets.values = append(f.otherSecrets.values, t)
				if db, name, err := objects.SplitName(blk.Labels[0], isRule); err == nil && !isRule {
					f.otherSecrets.values = append(f.otherSecrets.values, objects.ExpandTopic(t, db, name))
				}
			}
		}
	}
	if s, ok := dec.values["where"].(string); ok {
		expr := content.Attributes["where"].Expr
		if v, d := f.eval(expr); !d.HasErrors() && v.IsKnown() && !v.IsNull() && v.Type() != cty.String {
			// A number or bool converts to a string, but as a condition it is a constant.
			diags = append(diags, typeDiag("where", expr.Range(),
				`a string holding a SQL condition is required, such as where = "amount > 5"`))
		} else if err := objects.CheckWhereSyntax(s); err != nil {
			diags = append(diags, f.whereDiag(err, s, content.Attributes["where"].Expr))
		} else {
			obj.Where = s
		}
	}
	for _, name := range []string{"columns", "sharding_columns"} {
		list, ok := dec.values[name].([]string)
		if !ok {
			continue
		}
		if d := checkColumnList(name, list, content.Attributes[name].Expr); len(d) > 0 {
			diags = append(diags, d...)
			continue
		}
		if name == "columns" {
			obj.Columns = list
		} else {
			obj.ShardingColumns = list
		}
	}
	return obj, at, diags
}

// checkColumnList reports an empty list of columns (attribute name, written as expr), and
// empty, backquoted and repeated names in it.
func checkColumnList(name string, list []string, expr hcl.Expression) hcl.Diagnostics {
	if len(list) == 0 {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Empty %s", name),
			Detail:  fmt.Sprintf("%s = [] selects no column; leave %s out for the default.", name, name),
			Subject: expr.Range().Ptr()}}
	}
	var diags hcl.Diagnostics
	seen := map[string]int{}
	for i, c := range list {
		k := strings.ToLower(c)
		var msg string
		switch j, dup := seen[k]; {
		case strings.TrimSpace(c) == "":
			msg = "An empty column name."
		case strings.Contains(c, "`"):
			msg = fmt.Sprintf("%q: write column names without backquotes.", c)
		case dup:
			msg = fmt.Sprintf("Column %q is listed twice (also at position %d).", c, j+1)
		}
		seen[k] = i
		if msg != "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid column name in " + name,
				Detail: msg, Subject: elemRange(expr, i).Ptr()})
		}
	}
	return diags
}

// Sentinels stand for ${db} and ${table} while a topic template is evaluated; two pairs
// detect functions applied to them.
var topicSentinels = [2][2]string{{"\x00db\x00", "\x00table\x00"}, {"\x01DB\x01", "\x01TABLE\x01"}}

// evalTopic evaluates a topic: a string that may use ${db} and ${table} (as HCL
// interpolations) besides var.NAME and functions. It returns the template with ${db} and
// ${table} left in place.
func (f *File) evalTopic(expr hcl.Expression) (string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var varRefs bool
	for _, t := range expr.Variables() {
		rng := t.SourceRange()
		switch root := t.RootName(); root {
		case "db", "table":
			if len(t) > 1 {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid template variable",
					Detail: fmt.Sprintf("${%s} is a name, with no attributes or elements.", root), Subject: &rng})
			}
		case "var":
			varRefs = true
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown template variable",
				Detail:  fmt.Sprintf("A topic can use ${db} and ${table} (the matched names) and var.NAME; there is no %q.%s", root, didYouMean(root, objects.TopicVars)),
				Subject: &rng})
		}
	}
	if diags.HasErrors() {
		return "", diags
	}
	_ = varRefs
	var out [2]string
	for i, s := range topicSentinels {
		ctx := f.ctxFor(expr).NewChild()
		ctx.Variables = map[string]cty.Value{"db": cty.StringVal(s[0]), "table": cty.StringVal(s[1])}
		v, d := expr.Value(ctx)
		if d.HasErrors() {
			return "", append(diags, d...)
		}
		if v.IsNull() || !v.IsWhollyKnown() || v.Type() != cty.String {
			if !v.IsWhollyKnown() {
				return "", diags
			}
			return "", append(diags, typeDiag("topic", expr.Range(), "a string is required"))
		}
		out[i] = strings.NewReplacer(s[0], "${db}", s[1], "${table}").Replace(v.AsString())
	}
	rng := expr.Range()
	if out[0] != out[1] || strings.ContainsAny(out[0], "\x00\x01") {
		return "", append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid topic template",
			Detail: "${db} and ${table} are replaced by the table's names as they are; functions cannot be applied to them.", Subject: &rng})
	}
	if err := objects.CheckTopic(out[0]); err != nil {
		return "", append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid topic template",
			Detail: fmt.Sprintf("Topic %q: %v.", out[0], err), Subject: &rng})
	}
	if out[0] == "" {
		return "", append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Empty topic",
			Detail: "Leave topic out to use the sink's topic.", Subject: &rng})
	}
	return out[0], diags
}

// whereDiag pins a row-filter syntax error to its place in the file when the condition is a
// plain one-line string literal, else to the expression.
func (f *File) whereDiag(err error, cond string, expr hcl.Expression) *hcl.Diagnostic {
	rng := expr.Range()
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid row filter", Subject: &rng}
	var we *where.Error
	if !errors.As(err, &we) {
		d.Detail = err.Error()
		return d
	}
	d.Detail = fmt.Sprintf("%s (line %d, column %d of the condition).", we.Msg, we.Line, we.Column)
	src := f.Source(rng.Filename)
	if rng.End.Byte > len(src) || rng.Start.Byte >= rng.End.Byte || rng.Start.Line != rng.End.Line {
		return d
	}
	text := string(src[rng.Start.Byte:rng.End.Byte])
	if len(text) < 2 || text[0] != '"' || text[len(text)-1] != '"' || text[1:len(text)-1] != cond {
		return d
	}
	off := min(max(we.Offset, 0), len(cond))
	cols := utf8.RuneCountInString(cond[:off])
	pos := hcl.Pos{Line: rng.Start.Line, Column: rng.Start.Column + 1 + cols, Byte: rng.Start.Byte + 1 + off}
	end := pos
	if off < len(cond) {
		_, n := utf8.DecodeRuneInString(cond[off:])
		end = hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: pos.Byte + n}
	}
	d.Subject = &hcl.Range{Filename: rng.Filename, Start: pos, End: end}
	return d
}
