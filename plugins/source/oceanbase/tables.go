package oceanbase

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// systemSchemas are never matched by patterns.
var systemSchemas = map[string]bool{"information_schema": true, "mysql": true, "performance_schema": true,
	"sys": true, "oceanbase": true, "__recyclebin": true, "__public": true}

// globMatch reports whether pattern ("db.table", '*' any run) matches db.name, ignoring case.
func globMatch(pattern, db, name string) bool { return sdk.MatchTable(pattern, db, name) }

// wants reports whether the configured patterns select db.name (exact names are checked by
// the caller): some pattern matches and no exclude pattern does.
func (c *config) wants(db, name string) bool {
	if systemSchemas[strings.ToLower(db)] {
		return false
	}
	for _, p := range c.patterns {
		if globMatch(p, db, name) {
			for _, ex := range c.exclude {
				if globMatch(ex, db, name) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// defaultWatermarkDB is the database of the first exact table, else of the first pattern
// whose database part has no '*'.
func (c *config) defaultWatermarkDB() string {
	if len(c.tables) > 0 {
		return c.tables[0].DB
	}
	for _, p := range c.patterns {
		if db, _, _ := strings.Cut(p, "."); !strings.Contains(db, "*") {
			return db
		}
	}
	return ""
}

// catalogEntry is one table or view of the catalog.
type catalogEntry struct {
	name  tableName
	ttype string // BASE TABLE, VIEW, SYSTEM VIEW, SEQUENCE ...
}

// catalog lists the tables and views outside the system schemas, sorted by name.
func catalog(ctx context.Context, db *sql.DB) ([]catalogEntry, error) {
	rows, err := db.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []catalogEntry
	for rows.Next() {
		var e catalogEntry
		if err := rows.Scan(&e.name.DB, &e.name.Name, &e.ttype); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if systemSchemas[strings.ToLower(e.name.DB)] {
			continue
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name.String() < out[j].name.String() })
	return out, nil
}

// resolvePatterns adds the base tables the patterns select to cfg.tables (exact names
// first, then matches in name order), leaving out the watermark table.
func (s *Source) resolvePatterns(ctx context.Context) error {
	if len(s.cfg.patterns) == 0 {
		return nil
	}
	cat, err := catalog(ctx, s.db)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range s.cfg.tables {
		have[strings.ToLower(n.String())] = true
	}
	for _, e := range cat {
		k := strings.ToLower(e.name.String())
		if have[k] || e.ttype != "BASE TABLE" || strings.EqualFold(e.name.Name, WatermarkTable) || !s.cfg.wants(e.name.DB, e.name.Name) {
			continue
		}
		have[k] = true
		s.cfg.tables = append(s.cfg.tables, e.name)
	}
	if s.cfg.WatermarkDatabase == "" && len(s.cfg.tables) > 0 {
		s.cfg.WatermarkDatabase = s.cfg.tables[0].DB
	}
	return nil
}

// ListTables implements sdk.TableLister: every table and view that the include patterns
// (db.table, '*' any run) select, with its schema, or the reason it cannot be read.
func (s *Source) ListTables(ctx context.Context, include []string) ([]sdk.ListedTable, error) {
	if !s.configured {
		return nil, errors.New("oceanbase: ListTables before Configure")
	}
	if s.db == nil {
		if err := s.connect(ctx); err != nil {
			return nil, err
		}
		defer func() { s.db.Close(); s.db = nil }()
	}
	cat, err := catalog(ctx, s.db)
	if err != nil {
		return nil, err
	}
	var out []sdk.ListedTable
	for _, e := range cat {
		sel := false
		for _, p := range include {
			if globMatch(p, e.name.DB, e.name.Name) {
				sel = true
				break
			}
		}
		if !sel || strings.EqualFold(e.name.Name, WatermarkTable) {
			continue
		}
		lt := sdk.ListedTable{Database: e.name.DB, Name: e.name.Name, Type: e.ttype}
		if e.ttype == "BASE TABLE" {
			tb, err := loadTable(ctx, s.db, s.cfg.tenant, e.name, 1)
			if err != nil {
				lt.Problem = err.Error()
			} else {
				lt.Schema = tb.t
				lt.Problem = tableNamesProblem(tb.t)
			}
		}
		out = append(out, lt)
	}
	return out, nil
}

// selection is the live table selection: exact names (never excluded, joined when created if
// missing) and patterns minus exclude patterns.
type selection struct {
	exact    []tableName
	patterns []string
	exclude  []string
}

// wants reports whether the selection selects db.name (the watermark table never).
func (sel *selection) wants(n tableName) bool {
	if strings.EqualFold(n.Name, WatermarkTable) {
		return false
	}
	for _, e := range sel.exact {
		if strings.EqualFold(e.DB, n.DB) && strings.EqualFold(e.Name, n.Name) {
			return true
		}
	}
	if systemSchemas[strings.ToLower(n.DB)] {
		return false
	}
	for _, p := range sel.patterns {
		if globMatch(p, n.DB, n.Name) {
			for _, ex := range sel.exclude {
				if globMatch(ex, n.DB, n.Name) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// parseSelection checks a sdk.TableSelection as config.check checks tables and
// exclude_tables.
func parseSelection(in sdk.TableSelection) (selection, error) {
	var sel selection
	var errs []error
	seen := map[string]bool{}
	for _, raw := range in.Include {
		t := strings.TrimSpace(raw)
		db, name, ok := strings.Cut(t, ".")
		switch {
		case !ok || db == "" || name == "" || strings.Contains(name, "."):
			errs = append(errs, fmt.Errorf("%q is not db.table", raw))
			continue
		case strings.ContainsAny(t, "?[]"):
			errs = append(errs, fmt.Errorf("%q: only '*' is a wildcard", raw))
			continue
		}
		k := strings.ToLower(t)
		if seen[k] {
			continue
		}
		seen[k] = true
		if strings.Contains(t, "*") {
			sel.patterns = append(sel.patterns, t)
		} else {
			sel.exact = append(sel.exact, tableName{DB: db, Name: name})
		}
	}
	for _, raw := range in.Exclude {
		t := strings.TrimSpace(raw)
		db, name, ok := strings.Cut(t, ".")
		if !ok || db == "" || name == "" || strings.Contains(name, ".") {
			errs = append(errs, fmt.Errorf("exclude %q is not db.table", raw))
			continue
		}
		sel.exclude = append(sel.exclude, t)
	}
	if err := errors.Join(errs...); err != nil {
		return selection{}, fmt.Errorf("oceanbase: table selection: %w", err)
	}
	return sel, nil
}

// joins reports whether a table named by DDL statement q, not selected so far, joins the
// stream: q makes it appear (CREATE TABLE, including CREATE TABLE ... LIKE/SELECT; or q
// renames another table to its name: RENAME TABLE, ALTER TABLE ... RENAME) and the selection
// selects it. It joins from that statement on; in mode both its snapshot is read too (with the
// watermark hand-over), so rows it holds from the start (CREATE TABLE ... SELECT, a renamed
// table's rows) are delivered.
func (s *Source) joins(n tableName, q string, renamedTo bool) bool {
	if strings.EqualFold(n.Name, WatermarkTable) {
		return false
	}
	if !renamedTo && !createsTable(q) {
		return false
	}
	return s.sel.wants(n)
}

// createsTable reports whether q is a CREATE [TEMPORARY] TABLE statement (not temporary).
func createsTable(q string) bool {
	toks := tokenize(q)
	if len(toks) < 2 || toks[0].quoted || !strings.EqualFold(toks[0].s, "CREATE") {
		return false
	}
	for _, t := range toks[1:3] {
		if t.quoted {
			return false
		}
		if strings.EqualFold(t.s, "TEMPORARY") {
			return false
		}
		if strings.EqualFold(t.s, "TABLE") {
			return true
		}
	}
	return false
}

// tableNamesProblem says which name of t (database, table or a column) the precheck's
// unsupported_names check refuses, "" when every one is supported.
func tableNamesProblem(t *change.Table) string {
	var bad []string
	if pr := NameProblem(t.Database); pr != "" {
		bad = append(bad, fmt.Sprintf("database name %q has %s", t.Database, pr))
	}
	if pr := NameProblem(t.Name); pr != "" {
		bad = append(bad, fmt.Sprintf("table name %q has %s", t.Name, pr))
	}
	for _, c := range t.Columns {
		if pr := NameProblem(c.Name); pr != "" {
			bad = append(bad, fmt.Sprintf("column name %q has %s", c.Name, pr))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return "unsupported name (ASCII only, no spaces, line breaks or . | \" ' ` ( ) = ; / & \\): " + strings.Join(bad, "; ")
}
