// Package expr is the built-in filter plugin "expr": expr-lang (github.com/expr-lang/expr)
// expressions over the whole change keep, drop or route it.
//
// Settings: keep_if or drop_if (a boolean expression; at most one of them) and route (an
// expression giving a topic, "" or nil for no change). Every expression is compiled and type
// checked once in Configure; Filter evaluates them with reused VMs. See docs/filters.md for
// the environment an expression sees.
package expr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Env documents what an expression sees, one change at a time (the expressions are compiled
// against a map with these names and types, which evaluates faster than a struct).
type Env struct {
	// Op is the operation: snapshot, insert, update, delete, ddl or heartbeat.
	Op string `expr:"op"`
	// DB and Table name the object.
	DB    string `expr:"db"`
	Table string `expr:"table"`
	// Before and After map column names to values (empty maps when the image is absent, so
	// any column reads as nil; test len(before) == 0); Row is After, or Before for deletes.
	// See Value for the Go types.
	Before map[string]any `expr:"before"`
	After  map[string]any `expr:"after"`
	Row    map[string]any `expr:"row"`
	// Topic is the change's current topic ("" when the sink's default applies).
	Topic string `expr:"topic"`
	// DDL is the statement of a ddl change.
	DDL string `expr:"ddl"`
	// CommitMS is the commit time in Unix milliseconds (0 when unknown).
	CommitMS int64 `expr:"commit_ms"`
	// Tx is the transaction id ("" for snapshot rows).
	Tx string `expr:"tx"`
}

// Filter is the "expr" filter. It is safe for concurrent use after Configure.
type Filter struct {
	cond   *vm.Program // keep_if or drop_if; nil: keep everything
	drop   bool        // cond is drop_if
	route  *vm.Program
	uses   uses
	states sync.Pool
}

// uses says which names the expressions read, so nothing else is built or boxed.
type uses struct{ before, after, row, db, table, topic, ddl, tx, commitMS bool }

type config struct {
	KeepIf string `json:"keep_if"`
	DropIf string `json:"drop_if"`
	Route  string `json:"route"`
}

// New returns an unconfigured expr filter (which keeps everything). It is the constructor to
// register as the built-in filter "expr".
func New() *Filter { return &Filter{} }

// Info identifies the plugin.
func (f *Filter) Info() sdk.Info {
	return sdk.Info{Name: "expr", Kind: sdk.KindFilter, Version: "0.1.0",
		Summary: "Keeps, drops or routes changes by expr-lang expressions over the whole change."}
}

// Spec declares the configuration.
func (f *Filter) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "keep_if", Type: sdk.TypeString,
			Doc: "Keep only the changes for which this boolean expr-lang expression is true (`op != 'delete'`). Not with drop_if."},
		{Name: "drop_if", Type: sdk.TypeString,
			Doc: "Drop the changes for which this boolean expr-lang expression is true (`op == 'delete' && table == 'audit_log'`). Not with keep_if."},
		{Name: "route", Type: sdk.TypeString,
			Doc: "An expr-lang expression giving the topic of each kept change (`db + '_' + table`); \"\" or nil leaves the topic unchanged."},
	}}
}

// Configure checks and compiles the expressions.
func (f *Filter) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	if strings.TrimSpace(cfg.KeepIf) != "" && strings.TrimSpace(cfg.DropIf) != "" {
		return &sdk.AttributeError{Attribute: "drop_if", Summary: "keep_if and drop_if cannot both be set",
			Detail: "use one of them: drop_if = X is keep_if = !(X)"}
	}
	var errs []error
	var cond, route *vm.Program
	drop := false
	var u uses
	for _, a := range []struct {
		name, src string
		dst       **vm.Program
		boolean   bool
	}{{"keep_if", cfg.KeepIf, &cond, true}, {"drop_if", cfg.DropIf, &cond, true}, {"route", cfg.Route, &route, false}} {
		if strings.TrimSpace(a.src) == "" {
			continue
		}
		p, err := compile(a.src, a.boolean)
		if err != nil {
			errs = append(errs, attrErr(a.name, err))
			continue
		}
		*a.dst = p
		if a.name == "drop_if" {
			drop = true
		}
		u.add(p)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	f.cond, f.drop, f.route, f.uses = cond, drop, route, u
	return nil
}

func compile(src string, boolean bool) (*vm.Program, error) {
	opts := []expr.Option{expr.Env(sampleEnv())}
	if boolean {
		opts = append(opts, expr.AsBool())
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, err
	}
	if !boolean {
		if t := p.Node().Type(); t != nil {
			switch t.Kind().String() {
			case "string", "interface":
			default:
				return nil, fmt.Errorf("route must give a string (or nil), not %s", t)
			}
		}
	}
	return p, nil
}

// sampleEnv gives the names and types of the environment for type checking.
func sampleEnv() map[string]any {
	return map[string]any{"op": "", "db": "", "table": "", "before": map[string]any{}, "after": map[string]any{},
		"row": map[string]any{}, "topic": "", "ddl": "", "commit_ms": int64(0), "tx": ""}
}

// attrErr makes an attribute error that keeps expr's position and snippet.
func attrErr(name string, err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &sdk.AttributeError{Attribute: name,
			Summary: fmt.Sprintf("invalid expression at line %d, column %d: %s", fe.Line, fe.Column+1, fe.Message),
			Detail:  strings.TrimSpace(fe.Snippet)}
	}
	return &sdk.AttributeError{Attribute: name, Summary: "invalid expression: " + err.Error()}
}

func (u *uses) add(p *vm.Program) {
	root := p.Node()
	ast.Find(root, func(n ast.Node) bool {
		if id, ok := n.(*ast.IdentifierNode); ok {
			switch id.Value {
			case "before":
				u.before = true
			case "after":
				u.after = true
			case "row":
				u.row = true
			case "db":
				u.db = true
			case "table":
				u.table = true
			case "topic":
				u.topic = true
			case "ddl":
				u.ddl = true
			case "tx":
				u.tx = true
			case "commit_ms":
				u.commitMS = true
			}
		}
		return false
	})
}

// state is one goroutine's evaluation state: a VM, an environment and row maps reused from
// change to change, and boxed strings remembered so that a run of changes of one table
// does not box them again.
type state struct {
	vm            vm.VM
	env           map[string]any
	before, after map[string]any
	box           [6]boxed
}

type boxed struct {
	s string
	v any
}

// str returns s as an interface, reusing the last one of slot i when s is the same.
func (st *state) str(i int, s string) any {
	b := &st.box[i]
	if b.v == nil || b.s != s {
		b.s, b.v = s, s
	}
	return b.v
}

// noRow is the (never modified) map of an absent image: its columns read as nil.
var noRow any = map[string]any{}

var opBoxes = func() []any {
	out := make([]any, change.OpHeartbeat+1)
	for op := range out {
		out[op] = change.Op(op).String()
	}
	return out
}()

// Filter keeps, drops and routes changes in order, reusing the input's array.
func (f *Filter) Filter(_ context.Context, changes []*change.Change) ([]*change.Change, error) {
	if f.cond == nil && f.route == nil {
		return changes, nil
	}
	st, _ := f.states.Get().(*state)
	if st == nil {
		st = &state{env: sampleEnv()}
	}
	defer f.states.Put(st)
	out := changes[:0]
	for _, c := range changes {
		keep, topic, err := f.eval(st, c)
		if err != nil {
			return nil, err
		}
		if !keep {
			continue
		}
		if topic != "" {
			c.Topic = topic
		}
		out = append(out, c)
	}
	return out, nil
}

// eval evaluates the expressions on one change.
func (f *Filter) eval(st *state, c *change.Change) (keep bool, topic string, err error) {
	f.fill(st, c)
	defer st.clear()
	keep = true
	if f.cond != nil {
		r, err := st.vm.Run(f.cond, st.env)
		if err != nil {
			return false, "", f.runErr(c, "drop_if", "keep_if", err)
		}
		keep = r.(bool) != f.drop
	}
	if keep && f.route != nil {
		r, err := st.vm.Run(f.route, st.env)
		if err != nil {
			return false, "", f.runErr(c, "route", "route", err)
		}
		switch v := r.(type) {
		case nil:
		case string:
			topic = v
		default:
			return false, "", fmt.Errorf("filter expr: route gave %T (%v) for change %s, not a string", r, r, c.ID)
		}
	}
	return keep, topic, nil
}

func (f *Filter) runErr(c *change.Change, ifDrop, ifKeep string, err error) error {
	name := ifKeep
	if f.drop {
		name = ifDrop
	}
	return fmt.Errorf("filter expr: %s on change %s (%s of %s.%s): %w", name, c.ID, c.Op, c.Database, c.TableName, err)
}

func (f *Filter) fill(st *state, c *change.Change) {
	e := st.env
	if int(c.Op) < len(opBoxes) {
		e["op"] = opBoxes[c.Op]
	} else {
		e["op"] = c.Op.String()
	}
	u := &f.uses
	if u.db {
		e["db"] = st.str(0, c.Database)
	}
	if u.table {
		e["table"] = st.str(1, c.TableName)
	}
	if u.topic {
		e["topic"] = st.str(2, c.Topic)
	}
	if u.ddl {
		e["ddl"] = st.str(3, c.DDL)
	}
	if u.tx {
		e["tx"] = st.str(4, c.TxID)
	}
	if u.commitMS {
		var ms int64
		if !c.CommitTime.IsZero() {
			ms = c.CommitTime.UnixMilli()
		}
		if old, ok := e["commit_ms"].(int64); !ok || old != ms {
			e["commit_ms"] = ms
		}
	}
	before, after, row := noRow, noRow, noRow // an absent image is an empty map
	if c.Op.IsRow() && c.Table != nil {
		needBefore := f.uses.before || f.uses.row && c.Op == change.OpDelete
		needAfter := f.uses.after || f.uses.row && c.Op != change.OpDelete
		if needBefore && c.Before != nil {
			st.before = st.rowMap(st.before, c.Table, c.Before)
			before = st.before
		}
		if needAfter && c.After != nil {
			st.after = st.rowMap(st.after, c.Table, c.After)
			after = st.after
		}
		if c.Op == change.OpDelete || c.After == nil {
			row = before
		} else {
			row = after
		}
	}
	e["before"], e["after"], e["row"] = before, after, row
}

func (st *state) rowMap(m map[string]any, t *change.Table, row []change.Value) map[string]any {
	if m == nil {
		m = make(map[string]any, len(t.Columns))
	}
	for i := range t.Columns {
		if i >= len(row) {
			break
		}
		m[t.Columns[i].Name] = Value(&t.Columns[i], row[i])
	}
	return m
}

// clear forgets the change (the maps keep their memory for the next one).
func (st *state) clear() {
	clear(st.before)
	clear(st.after)
}

// Value returns the Go value an expression sees for a column value: NULL nil; integers
// int64 (YEAR too), unsigned integers and BIT uint64; FLOAT and DOUBLE float64; DECIMAL
// float64 (comparable with numbers; digits beyond float64's 15-17 are lost); character
// data, JSON, ENUM and SET their text; binary data a string of the raw bytes; DATE,
// DATETIME, TIMESTAMP and TIME their MySQL text ('2024-02-29 23:59:59.123456', with the
// column's fractional digits).
func Value(col *change.Column, v change.Value) any {
	switch v.Kind() {
	case change.KindNull:
		return nil
	case change.KindInt:
		return v.Int()
	case change.KindUint, change.KindBit:
		return v.Uint()
	case change.KindYear:
		return int64(v.Uint())
	case change.KindFloat32, change.KindFloat64:
		return v.Float()
	case change.KindDecimal:
		f, _ := strconv.ParseFloat(v.Str(), 64)
		return f
	case change.KindDate, change.KindDateTime, change.KindTimestamp, change.KindTime:
		fsp := -1
		if col != nil && v.Kind() != change.KindDate {
			fsp = col.Fsp
		}
		var buf [40]byte
		return string(v.AppendText(buf[:0], fsp))
	}
	return v.Str()
}
