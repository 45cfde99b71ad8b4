package oceanbase

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// ErrNotBaseTable is returned for selected objects that are not physical base tables.
var ErrNotBaseTable = errors.New("not a base table")

// ErrNoTable is returned for selected tables that do not exist.
var ErrNoTable = errors.New("table does not exist")

// colKind says how a column's values are decoded.
type colKind uint8

const (
	kInt colKind = iota
	kUint
	kFloat32
	kFloat64
	kDecimal
	kString
	kBytes
	kBinaryFixed // BINARY(n): the binlog drops trailing 0x00 bytes
	kDate
	kDateTime
	kTimestamp
	kTime
	kYear
	kJSON
	kBit
	kEnum
	kSet
)

// table is a selected table's schema plus what decoding needs.
type table struct {
	t     *change.Table
	kinds []colKind
	key   []int // KeyColumns
	// chunkKey is the index-backed key used for keyset chunking (nil: whole table in one chunk).
	chunkKey []int
	// logCols maps binlog column i to schema column logCols[i] when the log omits VIRTUAL
	// generated columns; nil when it carries every column.
	logCols []int
	// rows is the estimated row count (information_schema.TABLES.TABLE_ROWS).
	rows int64
	// ukNames are the index names of t.UniqueKeys (nil when unknown), for DROP INDEX.
	ukNames []string
	// hasJSON is set when a column is JSON (see binaryJSONText).
	hasJSON bool
}

func (t *table) name() string { return t.t.QualifiedName() }

// loadTable reads one table's schema over SQL. version is the Version to give it.
func loadTable(ctx context.Context, db *sql.DB, tenant string, n tableName, version uint64) (*table, error) {
	var ttype string
	var rows sql.NullInt64
	err := db.QueryRowContext(ctx, `SELECT TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, n.DB, n.Name).Scan(&ttype, &rows)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", n, ErrNoTable)
	}
	if err != nil {
		return nil, fmt.Errorf("read schema of %s: %w", n, err)
	}
	if ttype != "BASE TABLE" {
		return nil, fmt.Errorf("%s is a %s: %w", n, strings.ToLower(ttype), ErrNotBaseTable)
	}
	cols, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE,
		CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION,
		CHARACTER_SET_NAME, EXTRA
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
		ORDER BY ORDINAL_POSITION`, n.DB, n.Name)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", n, err)
	}
	defer cols.Close()
	t := &change.Table{Tenant: tenant, Database: n.DB, Name: n.Name, Version: version}
	for cols.Next() {
		var name, dataType, colType, nullable string
		var length, prec, scale, fsp sql.NullInt64
		var charset, extra sql.NullString
		if err := cols.Scan(&name, &dataType, &colType, &nullable, &length, &prec, &scale, &fsp, &charset, &extra); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", n, err)
		}
		c := change.Column{Name: name, Type: strings.ToUpper(dataType), ColumnType: colType,
			Nullable: nullable == "YES", Unsigned: strings.Contains(strings.ToLower(colType), "unsigned"),
			Length: length.Int64, Charset: charset.String}
		switch c.Type {
		case "DECIMAL", "NUMERIC":
			c.Precision, c.Scale = int(prec.Int64), int(scale.Int64)
		case "FLOAT", "DOUBLE", "REAL":
			if strings.Contains(colType, ",") {
				c.Precision, c.Scale = int(prec.Int64), int(scale.Int64)
			}
		case "BIT":
			c.Precision = int(prec.Int64)
		case "DATETIME", "TIMESTAMP", "TIME":
			c.Fsp = int(fsp.Int64)
		case "ENUM", "SET":
			c.Elems = parseElems(colType)
		}
		ex := strings.ToUpper(extra.String)
		switch {
		case strings.Contains(ex, "VIRTUAL"):
			c.Generated = change.GeneratedVirtual
		case strings.Contains(ex, "STORED"), strings.Contains(ex, "PERSISTENT"):
			c.Generated = change.GeneratedStored
		}
		t.Columns = append(t.Columns, c)
	}
	if err := cols.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", n, err)
	}
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("%s: %w", n, ErrNoTable)
	}
	markMariaDBJSON(ctx, db, n, t)
	ukNames, err := loadKeys(ctx, db, n, t)
	if err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	tb := newTable(t, rows.Int64)
	tb.ukNames = ukNames
	return tb, nil
}

// markMariaDBJSON marks MariaDB's JSON columns (LONGTEXT with a json_valid check) as JSON.
// Servers without information_schema.CHECK_CONSTRAINTS.TABLE_NAME are left alone.
func markMariaDBJSON(ctx context.Context, db *sql.DB, n tableName, t *change.Table) {
	rows, err := db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, n.DB, n.Name)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var clause string
		if rows.Scan(&clause) != nil {
			return
		}
		m := jsonValidRE.FindStringSubmatch(clause)
		if m == nil {
			continue
		}
		if i := t.ColumnIndex(strings.ReplaceAll(m[1], "``", "`")); i >= 0 && t.Columns[i].Type == "LONGTEXT" {
			t.Columns[i].Type = "JSON"
		}
	}
}

var jsonValidRE = regexp.MustCompile("(?i)^\\s*json_valid\\(`((?:[^`]|``)+)`\\)\\s*$")

// loadKeys reads the primary and unique keys of n into t and returns the unique keys' names.
func loadKeys(ctx context.Context, db *sql.DB, n tableName, t *change.Table) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0
		ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`, n.DB, n.Name)
	if err != nil {
		return nil, fmt.Errorf("read keys of %s: %w", n, err)
	}
	defer rows.Close()
	var order []string
	keys := map[string][]int{}
	for rows.Next() {
		var idx, col string
		if err := rows.Scan(&idx, &col); err != nil {
			return nil, fmt.Errorf("read keys of %s: %w", n, err)
		}
		i := t.ColumnIndex(col)
		if i < 0 {
			continue
		}
		if _, ok := keys[idx]; !ok {
			order = append(order, idx)
		}
		keys[idx] = append(keys[idx], i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read keys of %s: %w", n, err)
	}
	var names []string
	for _, idx := range order {
		if idx == "PRIMARY" {
			t.PrimaryKey = keys[idx]
		} else {
			t.UniqueKeys = append(t.UniqueKeys, keys[idx])
			names = append(names, idx)
		}
	}
	return names, nil
}

func newTable(t *change.Table, rows int64) *table {
	tb := &table{t: t, rows: rows, kinds: make([]colKind, len(t.Columns))}
	for i := range t.Columns {
		tb.kinds[i] = kindOf(&t.Columns[i])
		tb.hasJSON = tb.hasJSON || tb.kinds[i] == kJSON
	}
	tb.key = t.KeyColumns()
	if hasRealKey(t) {
		tb.chunkKey = tb.key
		if !chunkable(tb) {
			// A key with ENUM/SET/FLOAT/JSON columns does not compare in SQL as it sorts:
			// chunk on another unique NOT NULL key when the table has one (the hand-over
			// still matches rows by the key above: chunks only need a total order).
			if alt := chunkableKey(t, tb.kinds); alt != nil {
				tb.chunkKey = alt
			}
		}
	}
	for i := range t.Columns {
		if t.Columns[i].Generated == change.GeneratedVirtual {
			for j := range t.Columns {
				if t.Columns[j].Generated != change.GeneratedVirtual {
					tb.logCols = append(tb.logCols, j)
				}
			}
			break
		}
	}
	return tb
}

func kindOf(c *change.Column) colKind {
	switch c.Type {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT":
		if c.Unsigned {
			return kUint
		}
		return kInt
	case "FLOAT":
		return kFloat32
	case "DOUBLE", "REAL":
		return kFloat64
	case "DECIMAL", "NUMERIC":
		return kDecimal
	case "CHAR", "VARCHAR", "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT":
		if strings.EqualFold(c.Charset, "binary") {
			return kBytes
		}
		return kString
	case "BINARY":
		return kBinaryFixed
	case "DATE":
		return kDate
	case "DATETIME":
		return kDateTime
	case "TIMESTAMP":
		return kTimestamp
	case "TIME":
		return kTime
	case "YEAR":
		return kYear
	case "JSON":
		return kJSON
	case "BIT":
		return kBit
	case "ENUM":
		return kEnum
	case "SET":
		return kSet
	}
	return kBytes // VARBINARY, BLOBs, GEOMETRY and anything unknown: raw bytes
}

// parseElems returns the members of "enum('a','b”c')" or "set(...)".
func parseElems(colType string) []string {
	open := strings.IndexByte(colType, '(')
	if open < 0 {
		return nil
	}
	s := colType[open+1:]
	var out []string
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			return out
		}
		s = s[i+1:]
		var b strings.Builder
		for len(s) > 0 {
			if s[0] == '\'' {
				if len(s) > 1 && s[1] == '\'' {
					b.WriteByte('\'')
					s = s[2:]
					continue
				}
				s = s[1:]
				break
			}
			if s[0] == '\\' && len(s) > 1 {
				b.WriteByte(s[1])
				s = s[2:]
				continue
			}
			b.WriteByte(s[0])
			s = s[1:]
		}
		out = append(out, b.String())
	}
}

// sameSchema reports whether two schemas describe the same columns and keys.
func sameSchema(a, b *change.Table) bool {
	return reflect.DeepEqual(a.Columns, b.Columns) && reflect.DeepEqual(a.PrimaryKey, b.PrimaryKey) &&
		reflect.DeepEqual(a.UniqueKeys, b.UniqueKeys)
}

// quoteIdent quotes a MySQL identifier.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func qualified(db, name string) string { return quoteIdent(db) + "." + quoteIdent(name) }

// hasRealKey reports whether the table has a primary key or a unique key of NOT NULL columns.
// chunkableKey returns the columns of the first primary or unique NOT NULL key whose columns
// all compare in SQL as they sort, nil if none.
func chunkableKey(t *change.Table, kinds []colKind) []int {
	keys := append([][]int{t.PrimaryKey}, t.UniqueKeys...)
	for _, k := range keys {
		ok := len(k) > 0
		for _, i := range k {
			if t.Columns[i].Nullable || !chunkableKind(kinds[i]) {
				ok = false
			}
		}
		if ok {
			return k
		}
	}
	return nil
}

func hasRealKey(t *change.Table) bool {
	if len(t.PrimaryKey) > 0 {
		return true
	}
	for _, uk := range t.UniqueKeys {
		ok := len(uk) > 0
		for _, i := range uk {
			ok = ok && !t.Columns[i].Nullable
		}
		if ok {
			return true
		}
	}
	return false
}
