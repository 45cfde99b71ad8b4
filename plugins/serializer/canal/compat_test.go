package canal

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/javafmt"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// flatMessage mirrors com.alibaba.otter.canal.protocol.FlatMessage (1.1.7) field for field
// (id long, database, table, pkNames, isDdl, type, es, ts, sql, sqlType, mysqlType, data,
// old, gtid). Decoding disallows unknown fields, so ferry sends nothing FlatMessage lacks.
type flatMessage struct {
	ID        int64                `json:"id"`
	Database  string               `json:"database"`
	Table     string               `json:"table"`
	PkNames   []string             `json:"pkNames"`
	IsDdl     bool                 `json:"isDdl"`
	Type      string               `json:"type"`
	Es        int64                `json:"es"`
	Ts        int64                `json:"ts"`
	SQL       string               `json:"sql"`
	SQLType   map[string]int       `json:"sqlType"`
	MysqlType map[string]string    `json:"mysqlType"`
	Data      []map[string]*string `json:"data"`
	Old       []map[string]*string `json:"old"`
	Gtid      *string              `json:"gtid"`
}

func decode(t *testing.T, b []byte) flatMessage {
	t.Helper()
	var m flatMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("FlatMessage cannot read %s: %v", b, err)
	}
	return m
}

// latin1 turns a string read as ISO-8859-1 back into its bytes (what a Canal client does
// with getBytes(ISO_8859_1)).
func latin1(t *testing.T, s string) []byte {
	var out []byte
	for _, r := range s {
		if r > 0xff || r == utf8.RuneError {
			t.Fatalf("%q is not ISO-8859-1 text", s)
		}
		out = append(out, byte(r))
	}
	return out
}

// checkRow compares a decoded row with the source image: every column present, NULL as
// null, binary values byte for byte, everything else as MySQL's text of the value.
func checkRow(t *testing.T, tbl *change.Table, got map[string]*string, want []change.Value, only func(i int) bool) {
	t.Helper()
	n := 0
	for i, col := range tbl.Columns {
		if only != nil && !only(i) {
			if _, ok := got[col.Name]; ok {
				t.Errorf("%s: unchanged column in old", col.Name)
			}
			continue
		}
		n++
		g, ok := got[col.Name]
		if !ok {
			t.Errorf("%s: missing", col.Name)
			continue
		}
		v := want[i]
		switch {
		case v.IsNull():
			if g != nil {
				t.Errorf("%s = %q, want null", col.Name, *g)
			}
		case g == nil:
			t.Errorf("%s = null, want %v", col.Name, v)
		case v.Kind() == change.KindBytes:
			if b := latin1(t, *g); !bytes.Equal(b, v.Bytes()) {
				t.Errorf("%s = %x, want %x", col.Name, b, v.Bytes())
			}
		case v.Kind() == change.KindEnum || v.Kind() == change.KindSet:
			if w := strconv.FormatUint(v.Uint(), 10); *g != w {
				t.Errorf("%s = %q, want the number %q", col.Name, *g, w)
			}
		case v.Kind() == change.KindFloat32:
			if w := string(javafmt.AppendFloat(nil, v.Float32())); *g != w {
				t.Errorf("%s = %q, want %q", col.Name, *g, w)
			}
		case v.Kind() == change.KindFloat64:
			if w := string(javafmt.AppendDouble(nil, v.Float())); *g != w {
				t.Errorf("%s = %q, want %q", col.Name, *g, w)
			}
		default:
			if w := string(v.AppendText(nil, col.Fsp)); *g != w {
				t.Errorf("%s = %q, want %q", col.Name, *g, w)
			}
		}
	}
	if len(got) != n {
		t.Errorf("row has %d columns, want %d", len(got), n)
	}
}

func TestFlatMessageReadsEveryChange(t *testing.T) {
	s := newTest()
	for _, tc := range fixture.Cases() {
		c := tc.Change
		vals := fixture.Serialize(t, s, c)
		if c.Op == change.OpHeartbeat {
			if len(vals) != 0 {
				t.Errorf("heartbeat gave %d records", len(vals))
			}
			continue
		}
		m := decode(t, vals[0])
		if m.ID != 7 || m.Ts != fixture.BuildTime.UnixMilli() || m.Es != c.CommitTime.UnixMilli() ||
			m.Database != "shop" || m.Table != "orders" {
			t.Errorf("%s: header %+v", tc.Name, m)
		}
		if m.Gtid == nil || *m.Gtid != "" {
			t.Errorf("%s: gtid %v, want \"\"", tc.Name, m.Gtid)
		}
		if c.Op == change.OpDDL {
			if !m.IsDdl || m.Type != "ALTER" || m.SQL != c.DDL || m.Data != nil || m.Old != nil || m.PkNames != nil {
				t.Errorf("ddl: %+v", m)
			}
			continue
		}
		wantType := map[change.Op]string{change.OpSnapshot: "INSERT", change.OpInsert: "INSERT", change.OpUpdate: "UPDATE", change.OpDelete: "DELETE"}[c.Op]
		if m.IsDdl || m.Type != wantType || m.SQL != "" || len(m.PkNames) != 1 || m.PkNames[0] != "id" {
			t.Errorf("%s: %+v", tc.Name, m)
		}
		for _, col := range c.Table.Columns {
			if m.MysqlType[col.Name] != col.ColumnType {
				t.Errorf("mysqlType[%s] = %q", col.Name, m.MysqlType[col.Name])
			}
			i := c.Table.ColumnIndex(col.Name)
			if want := valueSQLType(&col, SQLType(&col), nullSQLType(&col), c.Row()[i]); m.SQLType[col.Name] != want {
				t.Errorf("%s: sqlType[%s] = %d, want %d", tc.Name, col.Name, m.SQLType[col.Name], want)
			}
		}
		if len(m.Data) != 1 {
			t.Fatalf("%s: %d data rows", tc.Name, len(m.Data))
		}
		checkRow(t, c.Table, m.Data[0], c.Row(), nil)
		if c.Op != change.OpUpdate {
			if m.Old != nil {
				t.Errorf("%s: old = %v", tc.Name, m.Old)
			}
			continue
		}
		if len(m.Old) != 1 {
			t.Fatalf("update: %d old rows", len(m.Old))
		}
		checkRow(t, c.Table, m.Old[0], c.Before, func(i int) bool { return !c.Before[i].Equal(c.After[i]) })
		if len(m.Old[0]) != 5 {
			t.Errorf("old has %d columns, want the 5 changed ones", len(m.Old[0]))
		}
	}
}

func TestSQLTypes(t *testing.T) {
	// java.sql.Types codes of the fixture's row (Row(1)) as Canal 1.1.7's LogEventConvert
	// assigns them: unsigned integers promoted only when the value does not fit the signed
	// type (65535, 4294967295 and 18446744073709551615 do not).
	want := map[string]int{"id": 4, "c_tinyint": -6, "c_smallint_u": 4, "c_mediumint": 4, "c_int_u": -5, "c_bigint": -5,
		"c_bigint_u": 3, "c_float": 7, "c_double": 8, "c_decimal": 3, "c_char": 1, "c_varchar": 12, "c_text": 2005,
		"c_binary": 2004, "c_varbinary": 2004, "c_blob": 2004, "c_date": 91, "c_datetime": 93, "c_datetime6": 93,
		"c_timestamp3": 93, "c_time": 92, "c_year": 12, "c_json": 12, "c_bit1": -7, "c_bit10": -7, "c_enum": 4, "c_set": -7}
	// NULL values (NullRow): no promotion; NULL SET is BLOB, NULL MySQL JSON is OTHER.
	wantNull := map[string]int{"c_smallint_u": 5, "c_int_u": 4, "c_bigint_u": -5, "c_json": 1111, "c_set": 2004}
	tbl := fixture.Table()
	row, nulls := fixture.Row(1), fixture.NullRow(2)
	for i, c := range tbl.Columns {
		if got := valueSQLType(&c, SQLType(&c), nullSQLType(&c), row[i]); got != want[c.Name] {
			t.Errorf("%s: %d, want %d", c.Name, got, want[c.Name])
		}
		w, ok := wantNull[c.Name]
		if !ok {
			w = want[c.Name]
		}
		if i == 0 || i == 17 { // the NOT NULL key and DATETIME
			continue
		}
		if got := valueSQLType(&c, SQLType(&c), nullSQLType(&c), nulls[i]); got != w {
			t.Errorf("%s NULL: %d, want %d", c.Name, got, w)
		}
	}
}

func TestSQLTypeUnsignedPromotion(t *testing.T) {
	for _, c := range []struct {
		typ  string
		v    uint64
		want int
	}{
		{"TINYINT", 0, -6}, {"TINYINT", 127, -6}, {"TINYINT", 128, 5}, {"TINYINT", 255, 5},
		{"SMALLINT", 32767, 5}, {"SMALLINT", 32768, 4},
		{"MEDIUMINT", 0, 4}, {"MEDIUMINT", 16777215, 4},
		{"INT", 2147483647, 4}, {"INT", 2147483648, -5},
		{"BIGINT", 0, -5}, {"BIGINT", 9223372036854775807, -5}, {"BIGINT", 9223372036854775808, 3},
	} {
		col := change.Column{Name: "u", Type: c.typ, Unsigned: true}
		if got := valueSQLType(&col, SQLType(&col), nullSQLType(&col), change.NewUint(c.v)); got != c.want {
			t.Errorf("%s UNSIGNED %d: %d, want %d", c.typ, c.v, got, c.want)
		}
	}
}

func TestSQLTypeOfOtherTypes(t *testing.T) {
	for _, c := range []struct {
		col       change.Column
		want, nul int
	}{
		{change.Column{Type: "JSON", ColumnType: "longtext"}, 2005, 2005}, // MariaDB's JSON
		{change.Column{Type: "JSON", ColumnType: "json"}, 12, 1111},
		{change.Column{Type: "GEOMETRY", ColumnType: "geometry"}, 2004, 2004},
		{change.Column{Type: "POINT", ColumnType: "point"}, 2004, 2004},
		{change.Column{Type: "TINYTEXT", ColumnType: "tinytext"}, 2005, 2005},
		{change.Column{Type: "SET", ColumnType: "set('a')"}, -7, 2004},
		{change.Column{Type: "ENUM", ColumnType: "enum('a')"}, 4, 4},
	} {
		if got := SQLType(&c.col); got != c.want {
			t.Errorf("%s: %d, want %d", c.col.ColumnType, got, c.want)
		}
		if got := nullSQLType(&c.col); got != c.nul {
			t.Errorf("%s NULL: %d, want %d", c.col.ColumnType, got, c.nul)
		}
	}
}
