package change

import (
	"fmt"
	"strings"
)

// Generated says whether and how a column is generated.
type Generated uint8

const (
	// NotGenerated is an ordinary column.
	NotGenerated Generated = iota
	// GeneratedStored is a STORED generated column: its value is in the change log.
	GeneratedStored
	// GeneratedVirtual is a VIRTUAL generated column: its value is not in the change log and
	// arrives as NULL in incremental changes.
	GeneratedVirtual
)

// Column describes one column of a table.
type Column struct {
	// Name is the column name as the database spells it.
	Name string
	// Type is the MySQL data type in upper case without parameters: "INT", "VARCHAR",
	// "DECIMAL", "DATETIME", "ENUM", ...
	Type string
	// ColumnType is the full column type as SHOW CREATE TABLE prints it:
	// "int(10) unsigned", "decimal(12,4)", "enum('a','b')".
	ColumnType string
	// Nullable reports whether the column accepts NULL.
	Nullable bool
	// Unsigned is set for unsigned numeric columns.
	Unsigned bool
	// Length is the character or byte length of string and binary types (0 when none).
	Length int64
	// Precision and Scale are those of DECIMAL (and of FLOAT/DOUBLE when declared).
	Precision, Scale int
	// Fsp is the fractional-seconds precision of DATETIME, TIMESTAMP and TIME (0..6).
	Fsp int
	// Charset is the character set of character columns ("" for others).
	Charset string
	// Elems are the members of an ENUM or SET, in declaration order.
	Elems []string
	// Generated says whether the column is generated and how.
	Generated Generated
}

// Table is the schema of one table at one moment. Changes point at a shared *Table; a new
// *Table (with a higher Version) is made whenever DDL changes the table, so a change always
// carries the schema its row images were written with. A Table must not be modified once a
// change refers to it.
type Table struct {
	Tenant   string
	Database string
	Name     string
	Columns  []Column
	// PrimaryKey holds indexes into Columns of the primary-key columns, in key order.
	PrimaryKey []int
	// UniqueKeys holds the other unique keys, each as indexes into Columns.
	UniqueKeys [][]int
	// Version increases with every schema change the source observes for this table.
	Version uint64
}

// QualifiedName returns "db.table".
func (t *Table) QualifiedName() string { return t.Database + "." + t.Name }

// ColumnIndex returns the index of the named column (case-insensitive, as MySQL column names
// are) or -1.
func (t *Table) ColumnIndex(name string) int {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

// KeyColumns returns the columns that identify a row: the primary key, else the first unique
// key whose columns are all NOT NULL, else every column (documented fallback for tables without
// keys).
func (t *Table) KeyColumns() []int {
	if len(t.PrimaryKey) > 0 {
		return t.PrimaryKey
	}
	for _, uk := range t.UniqueKeys {
		ok := true
		for _, i := range uk {
			if t.Columns[i].Nullable {
				ok = false
				break
			}
		}
		if ok && len(uk) > 0 {
			return uk
		}
	}
	all := make([]int, len(t.Columns))
	for i := range all {
		all[i] = i
	}
	return all
}

// Validate checks the internal consistency of the schema.
func (t *Table) Validate() error {
	if t.Database == "" || t.Name == "" {
		return fmt.Errorf("table schema without database or name")
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("table %s has no columns", t.QualifiedName())
	}
	check := func(what string, idx []int) error {
		for _, i := range idx {
			if i < 0 || i >= len(t.Columns) {
				return fmt.Errorf("table %s: %s refers to column %d of %d", t.QualifiedName(), what, i, len(t.Columns))
			}
		}
		return nil
	}
	if err := check("primary key", t.PrimaryKey); err != nil {
		return err
	}
	for _, uk := range t.UniqueKeys {
		if err := check("unique key", uk); err != nil {
			return err
		}
	}
	return nil
}
