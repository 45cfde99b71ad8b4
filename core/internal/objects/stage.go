package objects

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ferry-cdc/ferry/core/internal/objects/where"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Meta keys the stage sets on changes whose columns it projected: the record key and the
// shard hash computed from the full row before projection, so that key and sharding columns
// left out of the message still decide the key, the lane and the queue. Serializers do not
// emit them.
const (
	MetaKey  = "ferry.objects.key"
	MetaHash = "ferry.objects.hash"
)

// ColumnError is a column named in the selection that the table does not have. It stops the
// pipeline.
type ColumnError struct {
	Table   string // db.table
	Setting string // where, columns or sharding_columns
	Column  string
	Detail  string
}

func (e *ColumnError) Error() string {
	if e.Setting == "where" {
		return fmt.Sprintf("table %s: invalid row filter: %s", e.Table, e.Detail)
	}
	return fmt.Sprintf("table %s: %s names column %q, which the table does not have%s", e.Table, e.Setting, e.Column, e.Detail)
}

// Stage applies a Selection to changes: it drops changes of tables that are not selected,
// applies the row filter (an UPDATE crossing the filter becomes an INSERT or a DELETE),
// projects the selected columns and sets the topic. It caches what it derives per
// *change.Table (a new schema version is resolved and checked again). Its methods are safe
// for concurrent use; SetSelection replaces the selection (reload).
type Stage struct {
	sel   atomic.Pointer[Selection]
	mu    sync.Mutex
	cache map[*change.Table]*entry
	// names caches resolution by lower-case db.table for changes without a schema (DDL).
	names map[string]*Object
	// OnDrop, when set, is called once per table whose changes are dropped because the
	// selection does not select it.
	OnDrop func(table string, how How)
	warned map[string]bool
}

// entry is what the stage derived for one table schema.
type entry struct {
	obj    *Object // nil: not selected
	filter *where.Filter
	proj   *change.Table // nil: all columns
	projIx []int         // proj column i = original column projIx[i]
	shard  []int         // nil: key columns
	err    error
	// projected marks an entry registered for a projected table (its changes carry MetaHash).
	projected bool
}

// NewStage returns a stage applying sel.
func NewStage(sel *Selection) *Stage {
	s := &Stage{cache: map[*change.Table]*entry{}, names: map[string]*Object{}, warned: map[string]bool{}}
	s.sel.Store(sel)
	return s
}

// SetSelection replaces the selection; tables are resolved again on their next change.
func (s *Stage) SetSelection(sel *Selection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sel.Store(sel)
	s.cache = map[*change.Table]*entry{}
	s.names = map[string]*Object{}
	s.warned = map[string]bool{}
}

// Validate checks sel against the schema of every table the stage has seen (the tables that
// are streaming): the columns, row filters and sharding columns it names must exist. A
// reload validates the new selection before SetSelection, so a mistake in it is reported and
// the running selection stays, instead of stopping the pipeline at the table's next change.
func (s *Stage) Validate(sel *Selection) error {
	s.mu.Lock()
	var tables []*change.Table
	for t, e := range s.cache {
		if !e.projected {
			tables = append(tables, t)
		}
	}
	s.mu.Unlock()
	// The newest schema version of each table decides.
	newest := map[string]*change.Table{}
	for _, t := range tables {
		k := strings.ToLower(t.QualifiedName())
		if o, ok := newest[k]; !ok || t.Version > o.Version {
			newest[k] = t
		}
	}
	names := make([]string, 0, len(newest))
	for k := range newest {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []error
	for _, k := range names {
		t := newest[k]
		obj, _, _ := sel.Resolve(t.Database, t.Name)
		if err := build(obj, t).err; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Selection returns the current selection.
func (s *Stage) Selection() *Selection { return s.sel.Load() }

func (s *Stage) lookup(t *change.Table) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cache[t]; ok {
		return e
	}
	obj, how, _ := s.sel.Load().Resolve(t.Database, t.Name)
	e := build(obj, t)
	s.cache[t] = e
	if e.proj != nil {
		s.cache[e.proj] = &entry{obj: obj, projected: true}
	}
	if obj == nil {
		s.dropped(t.QualifiedName(), how)
	}
	return e
}

func (s *Stage) dropped(name string, how How) {
	if s.OnDrop != nil && !s.warned[strings.ToLower(name)] {
		s.warned[strings.ToLower(name)] = true
		s.OnDrop(name, how)
	}
}

// Check resolves obj's column names, row filter and sharding columns against table t, as
// the stage does when it first sees the table.
func Check(obj *Object, t *change.Table) error { return build(obj, t).err }

// build derives the stage's entry of obj for table t and checks every column name against
// t. A nil obj gives an entry that drops the table's changes.
func build(obj *Object, t *change.Table) *entry {
	e := &entry{obj: obj}
	if obj == nil {
		return e
	}
	name := t.QualifiedName()
	if obj.Where != "" {
		f, err := where.Compile(obj.Where, t)
		if err != nil {
			e.err = &ColumnError{Table: name, Setting: "where", Detail: err.Error()}
			return e
		}
		e.filter = f
	}
	idx := func(setting string, cols []string) ([]int, error) {
		out := make([]int, 0, len(cols))
		for _, c := range cols {
			i := t.ColumnIndex(c)
			if i < 0 {
				return nil, &ColumnError{Table: name, Setting: setting, Column: c, Detail: columnList(t)}
			}
			out = append(out, i)
		}
		return out, nil
	}
	if len(obj.ShardingColumns) > 0 {
		ix, err := idx("sharding_columns", obj.ShardingColumns)
		if err != nil {
			e.err = err
			return e
		}
		e.shard = ix
	}
	if len(obj.Columns) > 0 {
		ix, err := idx("columns", obj.Columns)
		if err != nil {
			e.err = err
			return e
		}
		sort.Ints(ix) // the table's column order
		if len(ix) < len(t.Columns) {
			e.projIx = ix
			e.proj = project(t, ix)
		}
	}
	return e
}

func columnList(t *change.Table) string {
	names := make([]string, len(t.Columns))
	for i := range t.Columns {
		names[i] = t.Columns[i].Name
	}
	return " (columns: " + strings.Join(names, ", ") + ")"
}

// project returns the schema of the selected columns ix (ascending). Keys whose columns are
// all selected are kept; the others are left out.
func project(t *change.Table, ix []int) *change.Table {
	pos := map[int]int{}
	p := &change.Table{Tenant: t.Tenant, Database: t.Database, Name: t.Name, Version: t.Version}
	for n, i := range ix {
		pos[i] = n
		p.Columns = append(p.Columns, t.Columns[i])
	}
	remap := func(key []int) []int {
		out := make([]int, 0, len(key))
		for _, i := range key {
			n, ok := pos[i]
			if !ok {
				return nil
			}
			out = append(out, n)
		}
		return out
	}
	p.PrimaryKey = remap(t.PrimaryKey)
	for _, uk := range t.UniqueKeys {
		if r := remap(uk); len(r) > 0 {
			p.UniqueKeys = append(p.UniqueKeys, r)
		}
	}
	return p
}

// Apply is the pipeline's objects hook: the change to pass on and whether to keep it, or an
// error (a column of the selection the table does not have) that stops the pipeline.
func (s *Stage) Apply(c *change.Change) (*change.Change, bool, error) {
	if c.Op == change.OpHeartbeat {
		return c, true, nil
	}
	if c.Table == nil {
		// DDL of a dropped table: route by name.
		obj := s.resolveName(c.Database, c.TableName)
		if obj == nil {
			return nil, false, nil
		}
		if obj.Topic != "" {
			c.Topic = obj.Topic
		}
		return c, true, nil
	}
	e := s.lookup(c.Table)
	if e.err != nil {
		return nil, false, e.err
	}
	if e.obj == nil {
		return nil, false, nil
	}
	if !c.Op.IsRow() {
		if e.obj.Topic != "" {
			c.Topic = e.obj.Topic
		}
		return c, true, nil
	}
	if e.filter != nil {
		out, keep := e.filter.Apply(c)
		if !keep {
			return nil, false, nil
		}
		c = out
	}
	if e.proj != nil {
		full := c
		p := *c
		p.Table = e.proj
		p.Before = pick(c.Before, e.projIx)
		p.After = pick(c.After, e.projIx)
		p.Meta = make(map[string]string, len(c.Meta)+2)
		for k, v := range c.Meta {
			p.Meta[k] = v
		}
		p.Meta[MetaHash] = strconv.FormatUint(full.KeyHash(e.shard), 10)
		p.Meta[MetaKey] = string(change.AppendKey(nil, full))
		c = &p
	}
	if e.obj.Topic != "" {
		c.Topic = e.obj.Topic
	}
	return c, true, nil
}

func (s *Stage) resolveName(db, name string) *Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(db + "." + name)
	if o, ok := s.names[k]; ok {
		return o
	}
	o, how, _ := s.sel.Load().Resolve(db, name)
	s.names[k] = o
	if o == nil {
		s.dropped(db+"."+name, how)
	}
	return o
}

func pick(row []change.Value, ix []int) []change.Value {
	if row == nil {
		return nil
	}
	out := make([]change.Value, len(ix))
	for n, i := range ix {
		if i < len(row) {
			out[n] = row[i]
		}
	}
	return out
}

// Shard is the pipeline's Shard function: the hash of the sharding columns (default the key
// columns) of the row, computed before projection.
func (s *Stage) Shard(c *change.Change) uint64 {
	if h, ok := c.Meta[MetaHash]; ok {
		if v, err := strconv.ParseUint(h, 10, 64); err == nil {
			return v
		}
	}
	if c.Op.IsRow() && c.Table != nil {
		if e := s.lookup(c.Table); e.obj != nil && e.err == nil && !e.projected {
			return c.KeyHash(e.shard)
		}
	}
	return c.KeyHash(nil)
}

// Key is the pipeline's Key function: the key text computed before projection, else the key
// columns' text.
func (s *Stage) Key(c *change.Change, dst []byte) []byte {
	if k, ok := c.Meta[MetaKey]; ok {
		return append(dst, k...)
	}
	return change.AppendKey(dst, c)
}
