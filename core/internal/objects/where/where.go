// Package where compiles per-table row filters: a SQL WHERE condition (without the keyword)
// over one table's columns, evaluated with MySQL semantics on change.Values.
//
// The condition is parsed by TiDB's MySQL grammar (github.com/pingcap/tidb/pkg/parser) as
// the WHERE clause of "SELECT * FROM t WHERE ..." and compiled into a tree of Go closures
// over a small typed value (val) rather than into an expr-lang program. The reason is
// semantics: MySQL's three-valued logic, its comparison type rules (numbers against
// strings, exact DECIMAL and signed/unsigned integers, collations) and its arithmetic
// (DECIMAL division scales, integer range errors) would each need a custom expr-lang
// function anyway, with values boxed into interfaces between them; a direct evaluator keeps
// them exact, keeps change.Value's kinds and is easy to check against MariaDB. See
// docs/filters.md for the supported subset and the semantics.
package where

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/agext/levenshtein"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // literal values for the parser
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Error is an invalid condition (or, from Match, an evaluation error such as an integer out
// of range), with its place in the condition.
type Error struct {
	// Offset is the 0-based byte offset in the condition; Line and Column are 1-based.
	Offset, Line, Column int
	// Msg says what is wrong.
	Msg string
}

func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

const prefix = "SELECT * FROM t WHERE\n"

// Filter is a compiled row filter. It is safe for concurrent use.
type Filter struct {
	cond  string
	table *change.Table
	root  node
	cols  []string // the columns the condition reads, by compile-time index
	// remaps caches, per other *change.Table (a later schema version), where each column
	// of cols is in its rows.
	remaps sync.Map
}

type env struct {
	row []change.Value
	idx []int  // column slot -> index in row (-1: missing)
	bin []bool // column slot -> binary collation
}

type node func(e *env) (val, error)

type compiler struct {
	// top is set while compiling the top-level condition and the operands of AND and OR
	// in it, where MariaDB treats NULL as FALSE (its abort_on_null).
	top   bool
	cond  string
	table *change.Table
	slots map[int]int // table column index -> slot
	cols  []string
	// anyColumn makes every column name valid (CheckSyntax): an unknown name is added to
	// table as a text column, and qualifiers are not compared with the table's names.
	anyColumn bool
}

// Compile parses cond and compiles it against table t.
func Compile(cond string, t *change.Table) (*Filter, error) {
	return compile(cond, t, false)
}

// CheckSyntax reports every error of cond that Compile would report whatever the table's
// schema: syntax, unsupported operators, functions and subqueries, constants out of range.
// Column names (and their db.table qualifiers) are left to Compile.
func CheckSyntax(cond string) error {
	_, err := compile(cond, &change.Table{}, true)
	return err
}

func compile(cond string, t *change.Table, anyColumn bool) (*Filter, error) {
	if t == nil {
		return nil, fmt.Errorf("row filter: no table schema")
	}
	if strings.TrimSpace(cond) == "" {
		return nil, &Error{Line: 1, Column: 1, Msg: "empty condition"}
	}
	p := parser.New()
	stmts, _, err := p.ParseSQL(prefix + cond)
	if err != nil {
		return nil, parseError(cond, err)
	}
	sel, ok := onlySelect(stmts)
	if !ok || sel.Where == nil {
		return nil, &Error{Line: 1, Column: 1, Msg: "not a single condition (only the expression after WHERE is allowed)"}
	}
	c := &compiler{cond: cond, table: t, slots: map[int]int{}, top: true, anyColumn: anyColumn}
	root, err := c.expr(sel.Where)
	if err != nil {
		return nil, err
	}
	f := &Filter{cond: cond, table: t, root: root, cols: c.cols}
	return f, nil
}

func onlySelect(stmts []ast.StmtNode) (*ast.SelectStmt, bool) {
	if len(stmts) != 1 {
		return nil, false
	}
	s, ok := stmts[0].(*ast.SelectStmt)
	if !ok || s.GroupBy != nil || s.Having != nil || s.OrderBy != nil || s.Limit != nil ||
		s.WindowSpecs != nil || s.LockInfo != nil || s.SelectIntoOpt != nil || s.With != nil {
		return nil, false
	}
	return s, true
}

var parseErrRE = regexp.MustCompile(`line (\d+) column (\d+) (near .*)`)

func parseError(cond string, err error) error {
	m := parseErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{Line: 1, Column: 1, Msg: "syntax error: " + err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	line-- // the prefix is a line of its own
	if line < 1 {
		line, col = 1, 1
	}
	e := &Error{Line: line, Column: col, Msg: "syntax error " + strings.TrimSpace(m[3])}
	e.Offset = offsetOf(cond, line, col)
	// The parser's column is where it stopped; when the "near" text is the rest of the
	// condition, point at its start instead.
	if near, err := strconv.Unquote(strings.TrimSpace(strings.TrimPrefix(m[3], "near "))); err == nil && near != "" &&
		strings.HasSuffix(cond, near) {
		e.Offset = len(cond) - len(near)
		e.Line = 1 + strings.Count(cond[:e.Offset], "\n")
		e.Column = e.Offset - strings.LastIndexByte(cond[:e.Offset], '\n')
	}
	return e
}

func offsetOf(cond string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(cond[off:], '\n')
		if i < 0 {
			return len(cond)
		}
		off += i + 1
	}
	return min(off+col-1, len(cond))
}

func (c *compiler) errAt(n ast.Node, format string, args ...any) error {
	off := n.OriginTextPosition() - len(prefix)
	if off < 0 || off > len(c.cond) {
		off = 0
	}
	line := 1 + strings.Count(c.cond[:off], "\n")
	col := off - strings.LastIndexByte(c.cond[:off], '\n')
	return &Error{Offset: off, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

func binaryColumn(col *change.Column) bool {
	ct := strings.ToLower(col.ColumnType)
	return strings.EqualFold(col.Charset, "binary") || strings.Contains(ct, "_bin") ||
		strings.Contains(ct, "binary") || strings.Contains(ct, "blob")
}

func (c *compiler) column(n *ast.ColumnNameExpr) (node, error) {
	cn := n.Name
	if c.anyColumn && c.table.ColumnIndex(cn.Name.O) < 0 {
		c.table.Columns = append(c.table.Columns, change.Column{Name: cn.Name.O, Type: "VARCHAR"})
	}
	if !c.anyColumn && cn.Schema.O != "" && !strings.EqualFold(cn.Schema.O, c.table.Database) ||
		!c.anyColumn && cn.Table.O != "" && !strings.EqualFold(cn.Table.O, c.table.Name) {
		return nil, c.errAt(n, "column %s: only the columns of %s can be used", cn.String(), c.table.QualifiedName())
	}
	i := c.table.ColumnIndex(cn.Name.O)
	if i < 0 {
		return nil, c.errAt(n, "unknown column `%s` in %s%s", cn.Name.O, c.table.QualifiedName(), c.suggest(cn.Name.O))
	}
	slot, ok := c.slots[i]
	if !ok {
		slot = len(c.cols)
		c.slots[i] = slot
		c.cols = append(c.cols, c.table.Columns[i].Name)
	}
	return func(e *env) (val, error) {
		j := e.idx[slot]
		if j < 0 || j >= len(e.row) {
			return null, nil
		}
		return fromChange(e.row[j], e.bin[slot]), nil
	}, nil
}

func (c *compiler) suggest(name string) string {
	best, bestD := "", 1<<30
	for _, col := range c.table.Columns {
		d := levenshtein.Distance(strings.ToLower(name), strings.ToLower(col.Name), nil)
		if d < bestD {
			best, bestD = col.Name, d
		}
	}
	if best != "" && bestD <= max(2, len(name)/3) {
		return fmt.Sprintf(" (did you mean `%s`?)", best)
	}
	names := make([]string, len(c.table.Columns))
	for i, col := range c.table.Columns {
		names[i] = col.Name
	}
	sort.Strings(names)
	return " (columns: " + strings.Join(names, ", ") + ")"
}

func (c *compiler) expr(n ast.ExprNode) (node, error) {
	top := c.top
	if b, ok := n.(*ast.BinaryOperationExpr); !ok || b.Op != opcode.LogicAnd && b.Op != opcode.LogicOr {
		if _, paren := n.(*ast.ParenthesesExpr); !paren {
			c.top = false
		}
	}
	nd, err := c.expr1(n)
	c.top = top
	if err != nil {
		return nil, err
	}
	if constNull(n) {
		return func(*env) (val, error) { return null, nil }, nil
	}
	if !hasColumn(n) {
		// A constant: MariaDB evaluates it once before reading rows, failing the
		// statement when it is out of range; so does Compile.
		v, err := nd(&env{})
		if err != nil {
			return nil, err
		}
		v.lit = true
		return func(*env) (val, error) { return v, nil }, nil
	}
	return nd, nil
}

// hasColumn reports whether n refers to a column.
func hasColumn(n ast.Node) bool {
	v := &columnFinder{}
	n.Accept(v)
	return v.found
}

type columnFinder struct{ found bool }

func (v *columnFinder) Enter(n ast.Node) (ast.Node, bool) {
	if _, ok := n.(*ast.ColumnNameExpr); ok {
		v.found = true
	}
	return n, v.found
}

func (v *columnFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func (c *compiler) expr1(n ast.ExprNode) (node, error) {
	switch x := n.(type) {
	case *ast.ParenthesesExpr:
		return c.expr(x.Expr)
	case *ast.ColumnNameExpr:
		return c.column(x)
	case *driver.ValueExpr:
		v, err := c.literal(x)
		if err != nil {
			return nil, err
		}
		return func(*env) (val, error) { return v, nil }, nil
	case *ast.BinaryOperationExpr:
		return c.binary(x)
	case *ast.UnaryOperationExpr:
		return c.unary(x)
	case *ast.IsNullExpr:
		a, err := c.expr(x.Expr)
		if err != nil {
			return nil, err
		}
		not := x.Not
		return func(e *env) (val, error) {
			v, err := a(e)
			if err != nil {
				return null, err
			}
			return boolVal((v.k == vNull) != not), nil
		}, nil
	case *ast.IsTruthExpr:
		a, err := c.expr(x.Expr)
		if err != nil {
			return nil, err
		}
		want, not := x.True != 0, x.Not
		return func(e *env) (val, error) {
			v, err := a(e)
			if err != nil {
				return null, err
			}
			is := v.k != vNull && v.truth() == want
			return boolVal(is != not), nil
		}, nil
	case *ast.BetweenExpr:
		return c.between(x)
	case *ast.PatternInExpr:
		return c.in(x)
	case *ast.PatternLikeOrIlikeExpr:
		return c.like(x)
	case *ast.FuncCallExpr:
		return c.call(x)
	}
	return nil, c.errAt(n, "unsupported expression %s (see the supported subset in docs/filters.md)", restore(n))
}

func restore(n ast.Node) string {
	var sb strings.Builder
	if err := n.Restore(formatCtx(&sb)); err != nil {
		return fmt.Sprintf("%T", n)
	}
	return sb.String()
}

func (c *compiler) literal(x *driver.ValueExpr) (val, error) {
	switch x.Kind() {
	case driver.KindNull:
		return null, nil
	case driver.KindInt64:
		return intVal(x.GetInt64()), nil
	case driver.KindUint64:
		return val{k: vUint, u: x.GetUint64()}, nil
	case driver.KindFloat32, driver.KindFloat64:
		return val{k: vFloat, f: x.GetFloat64()}, nil
	case driver.KindMysqlDecimal:
		d, ok := parseDec(x.GetMysqlDecimal().String())
		if !ok {
			return null, c.errAt(x, "invalid decimal literal")
		}
		return val{k: vDec, d: d}, nil
	case driver.KindString:
		return val{k: vStr, s: x.GetString(), bin: x.Type.GetCharset() == "binary"}, nil
	case driver.KindBytes:
		return val{k: vStr, s: string(x.GetBytes()), bin: true}, nil
	}
	return null, c.errAt(x, "unsupported literal %s (hexadecimal and bit literals are not supported)", restore(x))
}

func (c *compiler) two(a, b ast.ExprNode) (node, node, error) {
	x, err := c.expr(a)
	if err != nil {
		return nil, nil, err
	}
	y, err := c.expr(b)
	if err != nil {
		return nil, nil, err
	}
	return x, y, nil
}

func (c *compiler) binary(x *ast.BinaryOperationExpr) (node, error) {
	a, b, err := c.two(x.L, x.R)
	if err != nil {
		return nil, err
	}
	switch op := x.Op; op {
	case opcode.LogicAnd:
		return logicAnd(a, b, c.top), nil
	case opcode.LogicOr:
		return logicOr(a, b), nil
	case opcode.LogicXor:
		return logicXor(a, b), nil
	case opcode.EQ, opcode.NE, opcode.LT, opcode.LE, opcode.GT, opcode.GE:
		return comparison(cmpTest(op), a, b), nil
	case opcode.NullEQ:
		return nullSafeEqual(a, b), nil
	case opcode.Plus, opcode.Minus, opcode.Mul, opcode.Div, opcode.IntDiv, opcode.Mod:
		return func(e *env) (val, error) {
			l, r, err := both(e, a, b)
			if err != nil {
				return null, err
			}
			v, err := arith(op, l, r)
			if err != nil {
				return null, c.errAt(x, "%v", err)
			}
			return v, nil
		}, nil
	}
	return nil, c.errAt(x, "unsupported operator %s", x.Op)
}

// logicAnd is a AND b with three-valued logic; top says the expression is the whole filter,
// where a NULL left side is as good as FALSE.
func logicAnd(a, b node, top bool) node {
	return func(e *env) (val, error) {
		l, err := a(e)
		if err != nil {
			return null, err
		}
		if l.k != vNull && !l.truth() {
			return intVal(0), nil
		}
		if l.k == vNull && top { // NULL is as good as FALSE here: MariaDB stops
			return null, nil
		}
		r, err := b(e)
		if err != nil {
			return null, err
		}
		if r.k != vNull && !r.truth() {
			return intVal(0), nil
		}
		if l.k == vNull || r.k == vNull {
			return null, nil
		}
		return intVal(1), nil
	}
}

// logicOr is a OR b with three-valued logic.
func logicOr(a, b node) node {
	return func(e *env) (val, error) {
		l, err := a(e)
		if err != nil {
			return null, err
		}
		if l.k != vNull && l.truth() {
			return intVal(1), nil
		}
		r, err := b(e)
		if err != nil {
			return null, err
		}
		if r.k != vNull && r.truth() {
			return intVal(1), nil
		}
		if l.k == vNull || r.k == vNull {
			return null, nil
		}
		return intVal(0), nil
	}
}

// logicXor is a XOR b: NULL when either side is.
func logicXor(a, b node) node {
	return func(e *env) (val, error) {
		l, err := a(e)
		if err != nil || l.k == vNull { // MariaDB does not evaluate the right side then
			return null, err
		}
		r, err := b(e)
		if err != nil || r.k == vNull {
			return null, err
		}
		return boolVal(l.truth() != r.truth()), nil
	}
}

// comparison is a = b, a < b, ... (test says which): NULL when either side is.
func comparison(test func(int) bool, a, b node) node {
	return func(e *env) (val, error) {
		l, r, err := both(e, a, b)
		if err != nil || l.k == vNull || r.k == vNull {
			return null, err
		}
		return boolVal(test(compare(l, r, cmpType(l, r), true))), nil
	}
}

// nullSafeEqual is a <=> b: true when both are NULL, false when one is.
func nullSafeEqual(a, b node) node {
	return func(e *env) (val, error) {
		l, r, err := both(e, a, b)
		if err != nil {
			return null, err
		}
		if l.k == vNull || r.k == vNull {
			return boolVal(l.k == r.k), nil
		}
		return boolVal(compare(l, r, cmpType(l, r), true) == 0), nil
	}
}

func both(e *env, a, b node) (val, val, error) {
	l, err := a(e)
	if err != nil {
		return null, null, err
	}
	r, err := b(e)
	return l, r, err
}

func cmpTest(op opcode.Op) func(int) bool {
	switch op {
	case opcode.EQ:
		return func(c int) bool { return c == 0 }
	case opcode.NE:
		return func(c int) bool { return c != 0 }
	case opcode.LT:
		return func(c int) bool { return c < 0 }
	case opcode.LE:
		return func(c int) bool { return c <= 0 }
	case opcode.GT:
		return func(c int) bool { return c > 0 }
	}
	return func(c int) bool { return c >= 0 }
}

func (c *compiler) unary(x *ast.UnaryOperationExpr) (node, error) {
	a, err := c.expr(x.V)
	if err != nil {
		return nil, err
	}
	switch x.Op {
	case opcode.Not, opcode.Not2:
		return func(e *env) (val, error) {
			v, err := a(e)
			if err != nil || v.k == vNull {
				return null, err
			}
			return boolVal(!v.truth()), nil
		}, nil
	case opcode.Plus:
		return a, nil
	case opcode.Minus:
		if lit, ok := x.V.(*driver.ValueExpr); ok && lit.Kind() == driver.KindUint64 && lit.GetUint64() > 1<<63 {
			// MySQL reads -<literal beyond BIGINT> as a negative DECIMAL literal.
			d := decFromUint(lit.GetUint64())
			d.v.Neg(d.v)
			return func(*env) (val, error) { return val{k: vDec, d: d}, nil }, nil
		}
		return func(e *env) (val, error) {
			v, err := a(e)
			if err != nil || v.k == vNull {
				return null, err
			}
			r, err := neg(v)
			if err != nil {
				return null, c.errAt(x, "%v", err)
			}
			return r, nil
		}, nil
	}
	return nil, c.errAt(x, "unsupported operator %s", x.Op)
}

func (c *compiler) between(x *ast.BetweenExpr) (node, error) {
	a, lo, err := c.two(x.Expr, x.Left)
	if err != nil {
		return nil, err
	}
	hi, err := c.expr(x.Right)
	if err != nil {
		return nil, err
	}
	not := x.Not
	t := ctOf(c.stype(x.Expr))
	for _, o := range []ast.ExprNode{x.Left, x.Right} {
		if st := c.stype(o); st.k != vNull {
			t = aggCT(t, ctOf(st))
		}
	}
	return func(e *env) (val, error) {
		v, l, err := both(e, a, lo)
		if err != nil {
			return null, err
		}
		h, err := hi(e)
		if err != nil || v.k == vNull {
			return null, err
		}
		// v >= l AND v <= h, three-valued.
		ge, le := -1, -1 // -1 NULL, 0 false, 1 true
		if l.k != vNull {
			ge = b2i(compare(v, l, t, false) >= 0)
		}
		if h.k != vNull {
			le = b2i(compare(v, h, t, false) <= 0)
		}
		var r int
		switch {
		case ge == 0 || le == 0:
			r = 0
		case ge == -1 || le == -1:
			return null, nil
		default:
			r = 1
		}
		if not {
			r = 1 - r
		}
		return intVal(int64(r)), nil
	}, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *compiler) in(x *ast.PatternInExpr) (node, error) {
	if x.Sel != nil {
		return nil, c.errAt(x, "subqueries are not supported")
	}
	a, err := c.expr(x.Expr)
	if err != nil {
		return nil, err
	}
	items := make([]node, len(x.List))
	for i, it := range x.List {
		if items[i], err = c.expr(it); err != nil {
			return nil, err
		}
	}
	not := x.Not
	// MariaDB compares a one-element IN like "=", several elements at full precision.
	round := len(items) == 1
	return func(e *env) (val, error) {
		v, err := a(e)
		if err != nil || v.k == vNull {
			return null, err
		}
		sawNull := false
		for _, it := range items {
			w, err := it(e)
			if err != nil {
				return null, err
			}
			if w.k == vNull {
				sawNull = true
				continue
			}
			if compare(v, w, cmpType(v, w), round) == 0 {
				return boolVal(!not), nil
			}
		}
		if sawNull {
			return null, nil
		}
		return boolVal(not), nil
	}, nil
}

func (c *compiler) like(x *ast.PatternLikeOrIlikeExpr) (node, error) {
	a, p, err := c.two(x.Expr, x.Pattern)
	if err != nil {
		return nil, err
	}
	not, esc, ci := x.Not, rune(x.Escape), !x.IsLike // IsLike false: ILIKE
	if esc == 0 {
		esc = '\\'
	}
	return func(e *env) (val, error) {
		v, pv, err := both(e, a, p)
		if err != nil || v.k == vNull || pv.k == vNull {
			return null, err
		}
		bin := (v.bin || pv.bin) && !ci
		return boolVal(likeMatch(v.text(), pv.text(), esc, bin) != not), nil
	}, nil
}

func (c *compiler) call(x *ast.FuncCallExpr) (node, error) {
	name := x.FnName.L
	args := make([]node, len(x.Args))
	for i, a := range x.Args {
		var err error
		if args[i], err = c.expr(a); err != nil {
			return nil, err
		}
	}
	switch name {
	case "concat":
		if len(args) == 0 {
			return nil, c.errAt(x, "CONCAT needs at least one argument")
		}
		return func(e *env) (val, error) {
			var sb strings.Builder
			bin := false
			for _, a := range args {
				v, err := a(e)
				if err != nil || v.k == vNull {
					return null, err
				}
				bin = bin || v.bin
				sb.WriteString(v.text())
			}
			return val{k: vStr, s: sb.String(), bin: bin}, nil
		}, nil
	case "substr", "substring", "mid":
		if len(args) != 2 && len(args) != 3 {
			return nil, c.errAt(x, "%s needs 2 or 3 arguments", strings.ToUpper(name))
		}
		return func(e *env) (val, error) {
			vs := make([]val, len(args))
			for i, a := range args {
				v, err := a(e)
				if err != nil || v.k == vNull {
					return null, err
				}
				vs[i] = v
			}
			n := int64(1 << 62)
			if len(vs) == 3 {
				n = toInt(vs[2])
			}
			return substr(vs[0], toInt(vs[1]), n), nil
		}, nil
	}
	return nil, c.errAt(x, "unsupported function %s (supported: CONCAT, SUBSTR, SUBSTRING)", strings.ToUpper(name))
}

// Match evaluates the condition on a row of the compiled table (values in Table.Columns
// order; missing trailing values are NULL). It reports whether the condition is TRUE: FALSE
// and NULL both reject the row. The error is an evaluation error (an out-of-range integer),
// on which MySQL fails the statement.
func (f *Filter) Match(row []change.Value) (bool, error) {
	return f.match(f.table, row)
}

func (f *Filter) match(t *change.Table, row []change.Value) (bool, error) {
	e := env{row: row}
	e.idx, e.bin = f.layout(t)
	v, err := f.root(&e)
	if err != nil || v.k == vNull {
		return false, err
	}
	return v.truth(), nil
}

type layout struct {
	idx []int
	bin []bool
}

func (f *Filter) layout(t *change.Table) ([]int, []bool) {
	if l, ok := f.remaps.Load(t); ok {
		l := l.(*layout)
		return l.idx, l.bin
	}
	l := &layout{idx: make([]int, len(f.cols)), bin: make([]bool, len(f.cols))}
	for s, name := range f.cols {
		l.idx[s] = t.ColumnIndex(name)
		if l.idx[s] >= 0 {
			l.bin[s] = binaryColumn(&t.Columns[l.idx[s]])
		}
	}
	f.remaps.Store(t, l)
	return l.idx, l.bin
}

// Condition returns the condition text.
func (f *Filter) Condition() string { return f.cond }

// Apply filters one change. Row changes are judged by their row images, columns looked up
// by name in the change's own schema (so a later schema version still works; a dropped
// column reads as NULL):
//   - snapshot and insert by After, delete by Before: kept when the condition is TRUE;
//   - update: both images match: kept as is; only Before matches: the row leaves the
//     filtered set, sent as a DELETE of the before image; only After matches: the row
//     enters it, sent as an INSERT of the after image; neither: dropped.
//
// A converted update is a shallow copy with the new Op (the input is not modified). DDL and
// heartbeats are kept. An evaluation error counts as not matching (see Match).
func (f *Filter) Apply(c *change.Change) (out *change.Change, keep bool) {
	t := c.Table
	if t == nil {
		t = f.table
	}
	m := func(row []change.Value) bool {
		ok, _ := f.match(t, row)
		return ok
	}
	switch c.Op {
	case change.OpSnapshot, change.OpInsert:
		return c, m(c.After)
	case change.OpDelete:
		return c, m(c.Before)
	case change.OpUpdate:
		b, a := m(c.Before), m(c.After)
		switch {
		case a && b:
			return c, true
		case b:
			d := *c
			d.Op, d.After = change.OpDelete, nil
			return &d, true
		case a:
			d := *c
			d.Op, d.Before = change.OpInsert, nil
			return &d, true
		}
		return nil, false
	}
	return c, true
}
