package canal

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// flatMessage mirrors com.alibaba.otter.canal.protocol.FlatMessage field for field
// (id long, database, table, pkNames, isDdl, type, es, ts, sql, sqlType, mysqlType, data,
// old). Decoding disallows unknown fields, so ferry sends nothing FlatMessage lacks.
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
			if m.SQLType[col.Name] != SQLType(&col) {
				t.Errorf("sqlType[%s] = %d", col.Name, m.SQLType[col.Name])
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
	// java.sql.Types codes as Canal assigns them, unsigned integers promoted one step.
	want := map[string]int{"id": 4, "c_tinyint": -6, "c_smallint_u": 4, "c_mediumint": 4, "c_int_u": -5, "c_bigint": -5,
		"c_bigint_u": 3, "c_float": 7, "c_double": 8, "c_decimal": 3, "c_char": 1, "c_varchar": 12, "c_text": 2005,
		"c_binary": 2004, "c_varbinary": 2004, "c_blob": 2004, "c_date": 91, "c_datetime": 93, "c_datetime6": 93,
		"c_timestamp3": 93, "c_time": 92, "c_year": 12, "c_json": 12, "c_bit1": -7, "c_bit10": -7, "c_enum": 4, "c_set": -7}
	for _, c := range fixture.Table().Columns {
		if got := SQLType(&c); got != want[c.Name] {
			t.Errorf("%s: %d, want %d", c.Name, got, want[c.Name])
		}
	}
}
