package sdktest

import (
	"fmt"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// SampleTable returns a new schema of table fixture.all_types: a BIGINT primary key and one
// column of each value kind (see SampleRow), version 1.
func SampleTable() *change.Table {
	return &change.Table{
		Tenant:   "t1",
		Database: "fixture",
		Name:     "all_types",
		Columns: []change.Column{
			{Name: "id", Type: "BIGINT", ColumnType: "bigint(20)"},
			{Name: "u64", Type: "BIGINT", ColumnType: "bigint(20) unsigned", Unsigned: true},
			{Name: "f32", Type: "FLOAT", ColumnType: "float", Nullable: true},
			{Name: "f64", Type: "DOUBLE", ColumnType: "double", Nullable: true},
			{Name: "amount", Type: "DECIMAL", ColumnType: "decimal(20,4)", Precision: 20, Scale: 4, Nullable: true},
			{Name: "name", Type: "VARCHAR", ColumnType: "varchar(64)", Length: 64, Charset: "utf8mb4", Nullable: true},
			{Name: "bin", Type: "VARBINARY", ColumnType: "varbinary(16)", Length: 16, Nullable: true},
			{Name: "day", Type: "DATE", ColumnType: "date", Nullable: true},
			{Name: "dt", Type: "DATETIME", ColumnType: "datetime(6)", Fsp: 6, Nullable: true},
			{Name: "ts", Type: "TIMESTAMP", ColumnType: "timestamp(3)", Fsp: 3, Nullable: true},
			{Name: "dur", Type: "TIME", ColumnType: "time(6)", Fsp: 6, Nullable: true},
			{Name: "yr", Type: "YEAR", ColumnType: "year(4)", Nullable: true},
			{Name: "doc", Type: "JSON", ColumnType: "json", Nullable: true},
			{Name: "flags", Type: "BIT", ColumnType: "bit(10)", Nullable: true},
			{Name: "status", Type: "ENUM", ColumnType: "enum('new','paid','shipped')", Elems: []string{"new", "paid", "shipped"}, Nullable: true},
			{Name: "tags", Type: "SET", ColumnType: "set('a','b','c')", Elems: []string{"a", "b", "c"}, Nullable: true},
			{Name: "note", Type: "TEXT", ColumnType: "text", Charset: "utf8mb4", Nullable: true, Generated: change.GeneratedVirtual},
		},
		PrimaryKey: []int{0},
		UniqueKeys: [][]int{{1}, {5, 7}},
		Version:    1,
	}
}

// SampleRow returns a row of SampleTable with an edge case in each column: unsigned max,
// FLOAT and DOUBLE fractions, a DECIMAL with trailing zeros, multi-byte text, bytes with 0x00
// and invalid UTF-8, the zero date, a DATETIME with microseconds, a TIMESTAMP, a negative
// TIME, YEAR 0, JSON, a BIT value, an ENUM, a SET and NULL.
func SampleRow(id int64) []change.Value {
	zeroDate, _ := change.NewDate(0, 0, 0)
	dt, _ := change.NewDateTime(change.Temporal{Year: 2024, Month: 2, Day: 29, Hour: 23, Minute: 59, Second: 59, Microsecond: 123456}, false)
	ts := change.NewTimestampFromTime(time.Date(2038, 1, 19, 3, 14, 7, 999000000, time.UTC))
	dur, _ := change.NewTime(true, 838, 59, 59, 999999)
	return []change.Value{
		change.NewInt(id),
		change.NewUint(1<<64 - 1),
		change.NewFloat32(-1.5e-7),
		change.NewFloat64(0.1),
		change.MustDecimal("-12.3400"),
		change.NewString("naïve 日本 \"quoted\"\n\\"),
		change.NewBytes([]byte{0x00, 0xff, 0xfe, 'a', 0x00}),
		zeroDate,
		dt,
		ts,
		dur,
		change.NewYear(0),
		change.NewJSON(`{"a":[1,2.5,null],"b":"\u00e9"}`),
		change.NewBit(0b1010000001),
		change.NewEnum("paid", 2),
		change.NewSet("a,c", 0b101),
		change.Null,
	}
}

// SampleChanges returns new changes that cover every operation and value kind: a snapshot
// row, an insert of an all-NULL row except the key, an update, a delete, a DDL that gives the
// table a new schema version, an insert under the new schema, a heartbeat, and a change with
// topic, transaction and meta data. Row changes share one *change.Table per schema version.
func SampleChanges() []*change.Change {
	t1 := SampleTable()
	t2 := SampleTable()
	t2.Version = 2
	t2.Columns = append(t2.Columns, change.Column{Name: "extra", Type: "INT", ColumnType: "int(11)", Nullable: true})
	at := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	pos := func(i int) change.Position { return change.Position(fmt.Sprintf("pos-%03d\x00", i)) }
	nulls := make([]change.Value, len(t1.Columns))
	nulls[0] = change.NewInt(2)
	updated := SampleRow(1)
	updated[4] = change.MustDecimal("0.0000")
	updated[5] = change.NewString("")
	updated[16] = change.NewString("now set")
	row2 := append(SampleRow(3), change.NewInt(-1))
	cs := []*change.Change{
		{ID: "c-1", Op: change.OpSnapshot, Table: t1, Database: "fixture", TableName: "all_types",
			After: SampleRow(1), CommitTime: at, Position: pos(1)},
		{ID: "c-2", Op: change.OpInsert, Table: t1, Database: "fixture", TableName: "all_types",
			After: nulls, CommitTime: at.Add(time.Second), TxID: "gtid-1:5", TxSeq: 1, TxSize: 2, Position: pos(2)},
		{ID: "c-3", Op: change.OpUpdate, Table: t1, Database: "fixture", TableName: "all_types",
			Before: SampleRow(1), After: updated, CommitTime: at.Add(time.Second), TxID: "gtid-1:5", TxSeq: 2, TxSize: 2, Position: pos(3)},
		{ID: "c-4", Op: change.OpDelete, Table: t1, Database: "fixture", TableName: "all_types",
			Before: nulls, CommitTime: at.Add(2 * time.Second), TxID: "gtid-1:6", TxSeq: 1, TxSize: 1, Position: pos(4)},
		{ID: "c-5", Op: change.OpDDL, Table: t2, Database: "fixture", TableName: "all_types",
			DDL: "ALTER TABLE all_types ADD COLUMN extra INT /* \xff */", CommitTime: at.Add(3 * time.Second), TxID: "gtid-1:7", Position: pos(5)},
		{ID: "c-6", Op: change.OpInsert, Table: t2, Database: "fixture", TableName: "all_types",
			After: row2, CommitTime: at.Add(4 * time.Second), TxID: "gtid-1:8", TxSeq: 1, TxSize: 1, Position: pos(6),
			Topic: "orders-\x01topic", Meta: map[string]string{"source": "fixture", "bin": "\x00\xff"}},
		{ID: "c-7", Op: change.OpHeartbeat, Database: "fixture", CommitTime: at.Add(5 * time.Second), Position: pos(7)},
		{ID: "c-8", Op: change.OpSnapshot, Table: t1, Database: "fixture", TableName: "all_types",
			After: SampleRow(-9), Position: pos(8)}, // zero commit time
	}
	return cs
}

// SampleRecords returns records as a host hands them to a sink: one per change of
// SampleChanges that has a table, with a JSON-ish value, a key, properties and the host's
// fields filled in.
func SampleRecords() []sdk.Record {
	var rs []sdk.Record
	for i, c := range SampleChanges() {
		if c.Table == nil {
			continue
		}
		rs = append(rs, sdk.Record{
			Change:     i,
			Topic:      c.Topic,
			Key:        c.ID + "\x01k",
			Value:      []byte(fmt.Sprintf(`{"id":%q,"op":%q,"bin":"\u0000"}`, c.ID, c.Op)),
			Properties: []sdk.Property{{Key: "op", Value: c.Op.String()}, {Key: "raw", Value: "\x00\xff"}},
			Hash:       c.KeyHash(nil),
			ChangeID:   c.ID,
			Op:         c.Op,
			Database:   c.Database,
			Table:      c.TableName,
			CommitTime: c.CommitTime,
			Position:   c.Position,
		})
	}
	return rs
}
