package oceanbase

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	pmysql "github.com/pingcap/tidb/pkg/parser/mysql"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions (DEFAULT ...) need a driver
	"github.com/pingcap/tidb/pkg/parser/types"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// errNoReplay means a statement cannot be replayed on the in-memory schema; the caller then
// reads the table's schema from the catalog (right unless the stream lags behind more DDL).
var errNoReplay = errors.New("statement not replayable")

// ddlEffect is what one parsed statement does to one selected table.
type ddlEffect struct {
	dropped bool
	t       *change.Table // new schema (nil with dropped)
	ukNames []string      // names of t.UniqueKeys
}

// schemaLookup returns the schema in force of another table (for CREATE TABLE ... LIKE), and
// its unique keys' names; nil when unknown.
type schemaLookup func(db, name string) (*change.Table, []string)

// replayDDL applies statement q (run with default database defaultDB) to the in-memory
// schema old of table n (nil if it does not exist; oldNames are its unique keys' names, nil if
// unknown). It returns the new schema, or errNoReplay when the statement cannot be replayed
// exactly (CREATE ... LIKE of a table whose schema is unknown, CREATE ... SELECT with columns
// from the query, charset conversions, unparsable statements). The returned table has no
// Version yet.
func replayDDL(p *parser.Parser, defaultDB, q string, n tableName, old *change.Table, oldNames []string, lookup schemaLookup) (ddlEffect, bool, error) {
	if startsTransaction(q) {
		// MySQL 8 logs CREATE TABLE ... SELECT as the CREATE TABLE with its full column list
		// and a trailing START TRANSACTION (the rows follow as row events)
		toks := strings.LastIndex(strings.ToUpper(q), "START")
		q = strings.TrimSpace(q[:toks])
	}
	stmts, _, err := p.Parse(q, "", "")
	if err != nil {
		return ddlEffect{}, false, fmt.Errorf("%w: %v", errNoReplay, err)
	}
	r := &replay{defaultDB: defaultDB, n: n, lookup: lookup, cur: old, curNames: oldNames}
	for _, st := range stmts {
		if err := r.statement(st); err != nil {
			return ddlEffect{}, true, err
		}
	}
	return ddlEffect{dropped: r.dropped, t: r.cur, ukNames: r.curNames}, r.touched, nil
}

// replay is replayDDL's state over the statements of one query: the schema of table n in
// force so far, and whether a statement touched or dropped it.
type replay struct {
	defaultDB string
	n         tableName
	lookup    schemaLookup
	cur       *change.Table
	curNames  []string
	touched   bool
	dropped   bool
}

// matches says whether tn names the replayed table.
func (r *replay) matches(tn *ast.TableName) bool {
	db := tn.Schema.O
	if db == "" {
		db = r.defaultDB
	}
	return strings.EqualFold(db, r.n.DB) && strings.EqualFold(tn.Name.O, r.n.Name)
}

// statement applies one statement; statements on other tables change nothing.
func (r *replay) statement(st ast.StmtNode) error {
	switch s := st.(type) {
	case *ast.CreateTableStmt:
		if r.matches(s.Table) {
			r.touched = true
			return r.createTable(s)
		}
	case *ast.AlterTableStmt:
		if r.matches(s.Table) {
			r.touched = true
			return r.edit("ALTER of", func(ws *workSchema) error {
				for _, sp := range s.Specs {
					if err := ws.apply(sp); err != nil {
						return err
					}
				}
				return nil
			})
		}
	case *ast.DropTableStmt:
		for _, tn := range s.Tables {
			if r.matches(tn) {
				r.touched, r.dropped, r.cur = true, true, nil
			}
		}
	case *ast.TruncateTableStmt:
		if r.matches(s.Table) {
			r.touched = true
		}
	case *ast.CreateIndexStmt:
		if r.matches(s.Table) {
			r.touched = true
			if r.cur != nil && s.KeyType != ast.IndexKeyTypeUnique {
				return nil // only unique keys matter
			}
			return r.edit("CREATE INDEX on", func(ws *workSchema) error {
				ws.addConstraint(&ast.Constraint{Tp: ast.ConstraintUniq, Name: s.IndexName, Keys: s.IndexPartSpecifications})
				return nil
			})
		}
	case *ast.DropIndexStmt:
		if r.matches(s.Table) {
			r.touched = true
			return r.edit("DROP INDEX on", func(ws *workSchema) error { return ws.dropIndex(s.IndexName, s.IfExists) })
		}
	}
	return nil
}

// edit changes the schema in force with fn; what (ALTER, CREATE INDEX on, ...) names the
// statement in the error when that schema is unknown.
func (r *replay) edit(what string, fn func(*workSchema) error) error {
	if r.cur == nil {
		return fmt.Errorf("%w: %s a table whose schema is unknown", errNoReplay, what)
	}
	ws := fromTable(r.cur, r.curNames)
	if err := fn(ws); err != nil {
		return err
	}
	r.cur, r.curNames = ws.table(r.n), ws.ukNames
	return nil
}

// createTable replaces the schema by the one CREATE TABLE s declares (or copies with LIKE).
func (r *replay) createTable(s *ast.CreateTableStmt) error {
	if r.cur != nil && s.IfNotExists {
		return nil
	}
	var ws *workSchema
	switch {
	case s.ReferTable != nil:
		db := s.ReferTable.Schema.O
		if db == "" {
			db = r.defaultDB
		}
		var src *change.Table
		var srcNames []string
		if r.lookup != nil {
			src, srcNames = r.lookup(db, s.ReferTable.Name.O)
		}
		if src == nil {
			return fmt.Errorf("%w: CREATE TABLE ... LIKE %s.%s, whose schema is not tracked", errNoReplay, db, s.ReferTable.Name.O)
		}
		ws = fromTable(src, srcNames)
	case s.Select != nil && len(s.Cols) == 0:
		return fmt.Errorf("%w: CREATE TABLE ... SELECT without a column list", errNoReplay)
	case s.Select != nil:
		// columns the query adds beyond the list cannot be known from the statement
		return fmt.Errorf("%w: CREATE TABLE ... SELECT", errNoReplay)
	default:
		ws = &workSchema{charset: tableCharset(s.Options)}
		for _, cd := range s.Cols {
			if err := ws.add(cd, nil); err != nil {
				return err
			}
		}
		for _, c := range s.Constraints {
			ws.addConstraint(c)
		}
	}
	r.cur, r.curNames, r.dropped = ws.table(r.n), ws.ukNames, false
	return nil
}

func tableCharset(opts []*ast.TableOption) string {
	for _, o := range opts {
		if o.Tp == ast.TableOptionCharset {
			return o.StrValue
		}
	}
	return ""
}

// workSchema is a table's schema being edited: keys by column name, so that columns may
// move, be renamed or dropped.
type workSchema struct {
	cols    []change.Column
	pk      []string
	uks     [][]string
	ukNames []string
	charset string // default for character columns without one
}

// fromTable starts editing t; names are its unique keys' index names (nil: unknown).
func fromTable(t *change.Table, names []string) *workSchema {
	ws := &workSchema{cols: append([]change.Column(nil), t.Columns...)}
	if len(names) != len(t.UniqueKeys) {
		names = nil
	}
	for _, i := range t.PrimaryKey {
		ws.pk = append(ws.pk, t.Columns[i].Name)
	}
	for j, uk := range t.UniqueKeys {
		var cols []string
		for _, i := range uk {
			cols = append(cols, t.Columns[i].Name)
		}
		ws.uks = append(ws.uks, cols)
		name := fmt.Sprintf("#%d", j) // unknown
		if names != nil {
			name = names[j]
		}
		ws.ukNames = append(ws.ukNames, name)
	}
	for _, c := range t.Columns {
		if c.Charset != "" && c.Charset != "binary" {
			ws.charset = c.Charset
			break
		}
	}
	return ws
}

func (ws *workSchema) index(name string) int {
	for i := range ws.cols {
		if strings.EqualFold(ws.cols[i].Name, name) {
			return i
		}
	}
	return -1
}

// place inserts c at pos (nil or none: at the end).
func (ws *workSchema) place(c change.Column, pos *ast.ColumnPosition) error {
	at := len(ws.cols)
	if pos != nil {
		switch pos.Tp {
		case ast.ColumnPositionFirst:
			at = 0
		case ast.ColumnPositionAfter:
			i := ws.index(pos.RelativeColumn.Name.O)
			if i < 0 {
				return fmt.Errorf("%w: AFTER unknown column %s", errNoReplay, pos.RelativeColumn.Name.O)
			}
			at = i + 1
		}
	}
	ws.cols = append(ws.cols, change.Column{})
	copy(ws.cols[at+1:], ws.cols[at:])
	ws.cols[at] = c
	return nil
}

func (ws *workSchema) add(cd *ast.ColumnDef, pos *ast.ColumnPosition) error {
	c, pk, uniq, err := ws.column(cd)
	if err != nil {
		return err
	}
	if ws.index(c.Name) >= 0 {
		return fmt.Errorf("%w: column %s already exists", errNoReplay, c.Name)
	}
	if err := ws.place(c, pos); err != nil {
		return err
	}
	if pk {
		ws.pk = []string{c.Name}
	}
	if uniq {
		ws.uks = append(ws.uks, []string{c.Name})
		ws.ukNames = append(ws.ukNames, c.Name)
	}
	return nil
}

func (ws *workSchema) addConstraint(c *ast.Constraint) {
	var names []string
	for _, k := range c.Keys {
		if k.Column == nil {
			return // functional key part: not a column key
		}
		names = append(names, k.Column.Name.O)
	}
	switch c.Tp {
	case ast.ConstraintPrimaryKey:
		ws.pk = names
		for _, n := range names {
			if i := ws.index(n); i >= 0 {
				ws.cols[i].Nullable = false
			}
		}
	case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
		ws.uks = append(ws.uks, names)
		ws.ukNames = append(ws.ukNames, c.Name)
	}
}

// renameInKeys renames (or with to == "" removes) a column in every key.
func (ws *workSchema) renameInKeys(from, to string) {
	edit := func(k []string) []string {
		out := k[:0:0]
		for _, n := range k {
			if strings.EqualFold(n, from) {
				if to == "" {
					continue
				}
				n = to
			}
			out = append(out, n)
		}
		return out
	}
	ws.pk = edit(ws.pk)
	var uks [][]string
	var names []string
	for i, k := range ws.uks {
		if k = edit(k); len(k) > 0 {
			uks = append(uks, k)
			names = append(names, ws.ukNames[i])
		}
	}
	ws.uks, ws.ukNames = uks, names
}

func (ws *workSchema) apply(sp *ast.AlterTableSpec) error {
	switch sp.Tp {
	case ast.AlterTableAddColumns:
		return ws.addColumns(sp)
	case ast.AlterTableDropColumn:
		return ws.dropColumn(sp)
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		return ws.redefineColumn(sp)
	case ast.AlterTableRenameColumn:
		i := ws.index(sp.OldColumnName.Name.O)
		if i < 0 {
			return fmt.Errorf("%w: RENAME unknown column %s", errNoReplay, sp.OldColumnName.Name.O)
		}
		ws.cols[i].Name = sp.NewColumnName.Name.O
		ws.renameInKeys(sp.OldColumnName.Name.O, sp.NewColumnName.Name.O)
	case ast.AlterTableAddConstraint:
		ws.addConstraint(sp.Constraint)
	case ast.AlterTableDropPrimaryKey:
		ws.pk = nil
	case ast.AlterTableDropIndex:
		return ws.dropIndex(sp.Name, sp.IfExists)
	case ast.AlterTableOption:
		for _, o := range sp.Options {
			if o.Tp == ast.TableOptionCharset && o.UintValue == ast.TableOptionCharsetWithConvertTo {
				return fmt.Errorf("%w: CONVERT TO CHARACTER SET", errNoReplay)
			}
		}
	case ast.AlterTableRenameIndex:
		for i, n := range ws.ukNames {
			if strings.EqualFold(n, sp.FromKey.O) {
				ws.ukNames[i] = sp.ToKey.O
			}
		}
	case ast.AlterTableAlterColumn, ast.AlterTableLock, ast.AlterTableAlgorithm, ast.AlterTableForce,
		ast.AlterTableDropForeignKey, ast.AlterTableIndexInvisible:
		// no effect on columns or unique keys (a renamed unique index keeps its columns)
	case ast.AlterTableAddPartitions, ast.AlterTableCoalescePartitions, ast.AlterTableDropPartition,
		ast.AlterTableTruncatePartition, ast.AlterTablePartition, ast.AlterTableRemovePartitioning,
		ast.AlterTableRebuildPartition, ast.AlterTableReorganizePartition, ast.AlterTableCheckPartitions,
		ast.AlterTableExchangePartition, ast.AlterTableOptimizePartition, ast.AlterTableRepairPartition,
		ast.AlterTablePartitionAttributes, ast.AlterTablePartitionOptions,
		ast.AlterTableImportPartitionTablespace, ast.AlterTableDiscardPartitionTablespace,
		ast.AlterTableDropFirstPartition, ast.AlterTableAddLastPartition,
		ast.AlterTableReorganizeLastPartition, ast.AlterTableReorganizeFirstPartition:
		// Partition maintenance leaves columns and keys as they are. DROP, TRUNCATE and
		// EXCHANGE PARTITION remove or move rows without row events, as TRUNCATE TABLE does:
		// consumers learn of it from the DDL record only (emit_ddl), as with Debezium and Canal.
	default:
		return fmt.Errorf("%w: ALTER TABLE spec type %d", errNoReplay, sp.Tp)
	}
	return nil
}

// addColumns applies ADD COLUMN: the new columns where the spec places them, then the
// constraints it declares.
func (ws *workSchema) addColumns(sp *ast.AlterTableSpec) error {
	for i, cd := range sp.NewColumns {
		pos := sp.Position
		if i > 0 && pos != nil && pos.Tp != ast.ColumnPositionNone {
			// ADD COLUMN (a, b) takes no position; keep the list's order after the first
			pos = &ast.ColumnPosition{Tp: ast.ColumnPositionAfter, RelativeColumn: &ast.ColumnName{Name: sp.NewColumns[i-1].Name.Name}}
		}
		if err := ws.add(cd, pos); err != nil {
			if sp.IfNotExists && ws.index(cd.Name.Name.O) >= 0 {
				continue
			}
			return err
		}
	}
	for _, c := range sp.NewConstraints {
		ws.addConstraint(c)
	}
	return nil
}

// dropColumn applies DROP COLUMN, removing the column from every key too.
func (ws *workSchema) dropColumn(sp *ast.AlterTableSpec) error {
	name := sp.OldColumnName.Name.O
	i := ws.index(name)
	if i < 0 {
		if sp.IfExists {
			return nil
		}
		return fmt.Errorf("%w: DROP unknown column %s", errNoReplay, name)
	}
	ws.cols = append(ws.cols[:i], ws.cols[i+1:]...)
	ws.renameInKeys(name, "")
	return nil
}

// redefineColumn applies MODIFY COLUMN and CHANGE COLUMN: the new definition in place of the
// old (or where the spec places it), the keys following a rename.
func (ws *workSchema) redefineColumn(sp *ast.AlterTableSpec) error {
	cd := sp.NewColumns[0]
	oldName := cd.Name.Name.O
	if sp.Tp == ast.AlterTableChangeColumn {
		oldName = sp.OldColumnName.Name.O
	}
	i := ws.index(oldName)
	if i < 0 {
		if sp.IfExists {
			return nil
		}
		return fmt.Errorf("%w: %s of unknown column %s", errNoReplay, alterName(sp.Tp), oldName)
	}
	c, pk, uniq, err := ws.column(cd)
	if err != nil {
		return err
	}
	if sp.Position != nil && sp.Position.Tp != ast.ColumnPositionNone {
		ws.cols = append(ws.cols[:i], ws.cols[i+1:]...)
		if err := ws.place(c, sp.Position); err != nil {
			return err
		}
	} else {
		ws.cols[i] = c
	}
	ws.renameInKeys(oldName, c.Name)
	if pk {
		ws.pk = []string{c.Name}
	}
	if uniq {
		ws.uks = append(ws.uks, []string{c.Name})
		ws.ukNames = append(ws.ukNames, c.Name)
	}
	if contains(lowerAll(ws.pk), strings.ToLower(c.Name)) {
		ws.cols[ws.index(c.Name)].Nullable = false
	}
	return nil
}

// dropIndex removes the unique key (or primary key) called name; other indexes do not matter.
func (ws *workSchema) dropIndex(name string, _ bool) error {
	if strings.EqualFold(name, "PRIMARY") {
		ws.pk = nil
		return nil
	}
	for i, n := range ws.ukNames {
		if strings.EqualFold(n, name) {
			ws.uks = append(ws.uks[:i], ws.uks[i+1:]...)
			ws.ukNames = append(ws.ukNames[:i], ws.ukNames[i+1:]...)
			return nil
		}
	}
	for _, n := range ws.ukNames {
		if strings.HasPrefix(n, "#") {
			// a key whose name is unknown might be the one dropped
			return fmt.Errorf("%w: DROP INDEX %s with unnamed unique keys", errNoReplay, name)
		}
	}
	return nil // not a unique key
}

func alterName(tp ast.AlterTableType) string {
	if tp == ast.AlterTableChangeColumn {
		return "CHANGE COLUMN"
	}
	return "MODIFY COLUMN"
}

func lowerAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strings.ToLower(x)
	}
	return out
}

// table builds the change.Table (Version 0: the caller sets it).
func (ws *workSchema) table(n tableName) *change.Table {
	t := &change.Table{Database: n.DB, Name: n.Name, Columns: ws.cols}
	for _, name := range ws.pk {
		if i := ws.index(name); i >= 0 {
			t.PrimaryKey = append(t.PrimaryKey, i)
		}
	}
	var names []string
	for j, k := range ws.uks {
		var idx []int
		for _, name := range k {
			if i := ws.index(name); i >= 0 {
				idx = append(idx, i)
			}
		}
		if len(idx) > 0 {
			t.UniqueKeys = append(t.UniqueKeys, idx)
			names = append(names, ws.ukNames[j])
		}
	}
	ws.ukNames = names // aligned with t.UniqueKeys
	return t
}

// column converts a column definition into a change.Column, and says whether it declares
// itself PRIMARY KEY or UNIQUE.
func (ws *workSchema) column(cd *ast.ColumnDef) (c change.Column, pk, uniq bool, err error) {
	ft := cd.Tp
	if ft == nil {
		return c, false, false, fmt.Errorf("%w: column %s without a type", errNoReplay, cd.Name.Name.O)
	}
	c = change.Column{Name: cd.Name.Name.O, Nullable: true}
	binary := strings.EqualFold(ft.GetCharset(), "binary")
	c.Unsigned = pmysql.HasUnsignedFlag(ft.GetFlag())
	if !setType(&c, ft, binary) {
		return c, false, false, fmt.Errorf("%w: column %s of type %s", errNoReplay, c.Name, ft.String())
	}
	switch {
	case binary:
		if isCharType(c.Type) || c.Type == "BINARY" || c.Type == "VARBINARY" || strings.HasSuffix(c.Type, "BLOB") {
			c.Charset = "binary"
		}
	case isCharType(c.Type) || c.Type == "ENUM" || c.Type == "SET":
		c.Charset = ft.GetCharset()
		if c.Charset == "" {
			c.Charset = ws.charset
		}
		if c.Charset == "" {
			c.Charset = "utf8mb4"
		}
	}
	c.ColumnType = strings.ToLower(ft.InfoSchemaStr())
	pk, uniq = applyColumnOptions(&c, cd.Options)
	return c, pk, uniq, nil
}

// setType sets c's type and its length, precision, scale, fractional seconds or elements
// from ft (binary: the column has the binary charset); false for a type it does not know.
func setType(c *change.Column, ft *types.FieldType, binary bool) bool {
	flen, dec := ft.GetFlen(), ft.GetDecimal()
	switch ft.GetType() {
	case pmysql.TypeTiny:
		c.Type = "TINYINT"
	case pmysql.TypeShort:
		c.Type = "SMALLINT"
	case pmysql.TypeInt24:
		c.Type = "MEDIUMINT"
	case pmysql.TypeLong:
		c.Type = "INT"
	case pmysql.TypeLonglong:
		c.Type = "BIGINT"
	case pmysql.TypeFloat:
		c.Type = "FLOAT"
	case pmysql.TypeDouble:
		c.Type = "DOUBLE"
	case pmysql.TypeNewDecimal:
		c.Type = "DECIMAL"
		c.Precision, c.Scale = flen, dec
		if c.Precision <= 0 {
			c.Precision = 10
		}
		if c.Scale < 0 {
			c.Scale = 0
		}
	case pmysql.TypeVarchar, pmysql.TypeVarString:
		c.Type, c.Length = "VARCHAR", int64(flen)
		if binary {
			c.Type = "VARBINARY"
		}
	case pmysql.TypeString:
		c.Type, c.Length = "CHAR", int64(max(flen, 1))
		if binary {
			c.Type = "BINARY"
		}
	case pmysql.TypeTinyBlob, pmysql.TypeBlob, pmysql.TypeMediumBlob, pmysql.TypeLongBlob:
		names := map[byte][2]string{pmysql.TypeTinyBlob: {"TINYTEXT", "TINYBLOB"}, pmysql.TypeBlob: {"TEXT", "BLOB"},
			pmysql.TypeMediumBlob: {"MEDIUMTEXT", "MEDIUMBLOB"}, pmysql.TypeLongBlob: {"LONGTEXT", "LONGBLOB"}}[ft.GetType()]
		c.Type = names[0]
		if binary {
			c.Type = names[1]
		}
	case pmysql.TypeDate:
		c.Type = "DATE"
	case pmysql.TypeDatetime:
		c.Type, c.Fsp = "DATETIME", max(dec, 0)
	case pmysql.TypeTimestamp:
		c.Type, c.Fsp = "TIMESTAMP", max(dec, 0)
	case pmysql.TypeDuration:
		c.Type, c.Fsp = "TIME", max(dec, 0)
	case pmysql.TypeYear:
		c.Type = "YEAR"
	case pmysql.TypeBit:
		c.Type, c.Precision = "BIT", max(flen, 1)
	case pmysql.TypeEnum:
		c.Type, c.Elems = "ENUM", append([]string(nil), ft.GetElems()...)
	case pmysql.TypeSet:
		c.Type, c.Elems = "SET", append([]string(nil), ft.GetElems()...)
	case pmysql.TypeJSON:
		c.Type = "JSON"
	case pmysql.TypeGeometry:
		c.Type = "GEOMETRY"
	default:
		return false
	}
	return true
}

// applyColumnOptions applies a column definition's NULL, NOT NULL and GENERATED options to c,
// and says whether it declares the column PRIMARY KEY or UNIQUE.
func applyColumnOptions(c *change.Column, opts []*ast.ColumnOption) (pk, uniq bool) {
	for _, o := range opts {
		switch o.Tp {
		case ast.ColumnOptionNotNull:
			c.Nullable = false
		case ast.ColumnOptionNull:
			c.Nullable = true
		case ast.ColumnOptionPrimaryKey:
			pk, c.Nullable = true, false
		case ast.ColumnOptionUniqKey:
			uniq = true
		case ast.ColumnOptionGenerated:
			c.Generated = change.GeneratedVirtual
			if o.Stored {
				c.Generated = change.GeneratedStored
			}
		}
	}
	return pk, uniq
}

func isCharType(t string) bool {
	switch t {
	case "CHAR", "VARCHAR", "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT":
		return true
	}
	return false
}
