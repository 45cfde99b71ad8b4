package dbz

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func newMode(t *testing.T, mode Mode, cfg string) *Serializer {
	t.Helper()
	s := New(sdk.Info{Name: "t", Kind: sdk.KindSerializer}, mode)
	if err := s.Configure(context.Background(), sdk.NewConfig([]byte(cfg))); err != nil {
		t.Fatal(err)
	}
	s.Hooks.Now = func() time.Time { return time.Date(2025, 6, 1, 12, 0, 5, 123456789, time.UTC) }
	return s
}

// one serializes c and decodes the record into a generic map.
func one(t *testing.T, s *Serializer, c *change.Change) map[string]json.RawMessage {
	t.Helper()
	recs, err := s.Serialize(context.Background(), []*change.Change{c}, nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(recs[0].Body(), &m); err != nil {
		t.Fatalf("%s: %v", recs[0].Body(), err)
	}
	return m
}

func field(t *testing.T, raw json.RawMessage, name string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return string(m[name])
}

func ts(t *testing.T, tm change.Temporal) change.Value {
	v, err := change.NewDateTime(tm, true)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var tsTable = &change.Table{Database: "d", Name: "t", Columns: []change.Column{
	{Name: "id", Type: "INT"},
	{Name: "t6", Type: "TIMESTAMP", ColumnType: "timestamp(6)", Fsp: 6, Nullable: true},
	{Name: "t0", Type: "TIMESTAMP", ColumnType: "timestamp", Nullable: true},
	{Name: "t3nn", Type: "TIMESTAMP", ColumnType: "timestamp(3)", Fsp: 3},
}, PrimaryKey: []int{0}}

func TestZonedTimestampFraction(t *testing.T) {
	sec1 := change.Temporal{Year: 1970, Month: 1, Day: 1, Second: 1}
	frac := change.Temporal{Year: 2038, Month: 1, Day: 19, Hour: 3, Minute: 14, Second: 7, Microsecond: 120000}
	zero := change.Temporal{}
	row := []change.Value{change.NewInt(1), ts(t, sec1), ts(t, frac), ts(t, zero)}
	zrow := []change.Value{change.NewInt(2), ts(t, zero), ts(t, zero), ts(t, zero)}
	for _, c := range []struct {
		cfg   string
		op    change.Op
		row   []change.Value
		t6    string
		t0    string
		t3nn  string
		about string
	}{
		{`{}`, change.OpSnapshot, row, `"1970-01-01T00:00:01Z"`, `"2038-01-19T03:14:07.12Z"`, `"1970-01-01T00:00:00Z"`, "snapshot: trimmed; zero NOT NULL: the epoch"},
		{`{}`, change.OpInsert, row, `"1970-01-01T00:00:01.000000Z"`, `"2038-01-19T03:14:07Z"`, `"1970-01-01T00:00:00.000Z"`, "binlog: fsp digits; zero: the epoch instant"},
		{`{"timestamp_fraction":"fsp"}`, change.OpSnapshot, row, `"1970-01-01T00:00:01.000000Z"`, `"2038-01-19T03:14:07Z"`, `"1970-01-01T00:00:00.000Z"`, "fsp everywhere"},
		{`{}`, change.OpSnapshot, zrow, `null`, `null`, `"1970-01-01T00:00:00Z"`, "snapshot zero: null when nullable"},
		{`{}`, change.OpInsert, zrow, `"1970-01-01T00:00:00.000000Z"`, `"1970-01-01T00:00:00Z"`, `"1970-01-01T00:00:00.000Z"`, "binlog zero: the epoch even when nullable"},
	} {
		s := newMode(t, Flatten, c.cfg)
		m := one(t, s, &change.Change{ID: "x", Op: c.op, Table: tsTable, After: c.row})
		after := m["after"]
		if g := field(t, after, "t6"); g != c.t6 {
			t.Errorf("%s: t6 %s, want %s", c.about, g, c.t6)
		}
		if g := field(t, after, "t0"); g != c.t0 {
			t.Errorf("%s: t0 %s, want %s", c.about, g, c.t0)
		}
		if g := field(t, after, "t3nn"); g != c.t3nn {
			t.Errorf("%s: t3nn %s, want %s", c.about, g, c.t3nn)
		}
	}
}

func TestSnapshotMarks(t *testing.T) {
	tbl := &change.Table{Database: "d", Name: "t", Columns: []change.Column{{Name: "id", Type: "INT"}}, PrimaryKey: []int{0}}
	s := newMode(t, Flatten, `{}`)
	for mark, want := range map[string]string{"": "true", change.SnapshotFirst: "first", change.SnapshotFirstInTable: "first_in_data_collection",
		change.SnapshotLastInTable: "last_in_data_collection", change.SnapshotLast: "last", "bogus": "true"} {
		c := &change.Change{ID: "x", Op: change.OpSnapshot, Table: tbl, After: []change.Value{change.NewInt(1)}}
		if mark != "" {
			c.Meta = map[string]string{change.MetaSnapshot: mark}
		}
		if g := field(t, one(t, s, c)["source"], "snapshot"); g != `"`+want+`"` {
			t.Errorf("mark %q: snapshot %s, want %q", mark, g, want)
		}
	}
	c := &change.Change{ID: "x", Op: change.OpInsert, Table: tbl, After: []change.Value{change.NewInt(1)}, Meta: map[string]string{change.MetaSnapshot: "last"}}
	if g := field(t, one(t, s, c)["source"], "snapshot"); g != `"false"` {
		t.Errorf("insert: snapshot %s", g)
	}
}

func TestSourceFromMeta(t *testing.T) {
	tbl := &change.Table{Database: "d", Name: "t", Columns: []change.Column{{Name: "id", Type: "INT"}}, PrimaryKey: []int{0}}
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		txID string
		meta map[string]string
		want map[string]string
	}{
		{"0-1-23", map[string]string{change.MetaGTID: "0-1-23", change.MetaBinlogRow: "2", change.MetaThreadID: "77", change.MetaBinlogFile: "mariadb-bin.000001", change.MetaBinlogPos: "400"},
			map[string]string{"gtid": `"0-1-23"`, "row": "2", "thread": "77", "file": `"mariadb-bin.000001"`, "pos": "400"}},
		{"mysql-bin.000003:1200", nil, map[string]string{"gtid": "null", "row": "0", "thread": "null", "file": `""`, "pos": "0"}},
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:23", nil, map[string]string{"gtid": `"3e11fa47-71ca-11e1-9e33-c80aa9429562:23"`}},
	} {
		ch := &change.Change{ID: "x", Op: change.OpInsert, Table: tbl, After: []change.Value{change.NewInt(1)}, TxID: c.txID, Meta: c.meta, CommitTime: at}
		src := one(t, newMode(t, Flatten, `{}`), ch)["source"]
		for k, w := range c.want {
			if g := field(t, src, k); g != w {
				t.Errorf("%s: %s = %s, want %s", c.txID, k, g, w)
			}
		}
		if g := field(t, src, "ts_us"); g != "1748779200000000" {
			t.Errorf("ts_us %s", g)
		}
		if g := field(t, src, "ts_ns"); g != "1748779200000000000" {
			t.Errorf("ts_ns %s", g)
		}
	}
	m := one(t, newMode(t, Flatten, `{}`), &change.Change{ID: "x", Op: change.OpInsert, Table: tbl, After: []change.Value{change.NewInt(1)}})
	if string(m["ts_ms"]) != "1748779205123" || string(m["ts_us"]) != "1748779205123456" || string(m["ts_ns"]) != "1748779205123456789" {
		t.Errorf("envelope times %s %s %s", m["ts_ms"], m["ts_us"], m["ts_ns"])
	}
}

func TestConnectorMariaDB(t *testing.T) {
	tbl := &change.Table{Database: "d", Name: "t", Columns: []change.Column{{Name: "id", Type: "INT"}}, PrimaryKey: []int{0}}
	recs, err := newMode(t, Envelope, `{"connector":"mariadb"}`).Serialize(context.Background(),
		[]*change.Change{{ID: "x", Op: change.OpInsert, Table: tbl, After: []change.Value{change.NewInt(1)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := string(recs[0].Body())
	if !strings.Contains(v, `"name":"io.debezium.connector.mariadb.Source","version":1,"field":"source"`) || !strings.Contains(v, `"connector":"mariadb"`) {
		t.Errorf("connector mariadb: %s", v)
	}
}

func TestMariaDBJSONIsAString(t *testing.T) {
	tbl := &change.Table{Database: "d", Name: "t", Columns: []change.Column{{Name: "id", Type: "INT"},
		{Name: "mj", Type: "JSON", ColumnType: "longtext", Nullable: true}, {Name: "j", Type: "JSON", ColumnType: "json", Nullable: true}}, PrimaryKey: []int{0}}
	recs, err := newMode(t, Envelope, `{}`).Serialize(context.Background(),
		[]*change.Change{{ID: "x", Op: change.OpInsert, Table: tbl, After: []change.Value{change.NewInt(1), change.NewJSON(`{"a":1}`), change.NewJSON(`[]`)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := string(recs[0].Body())
	if !strings.Contains(v, `{"type":"string","optional":true,"field":"mj"}`) ||
		!strings.Contains(v, `{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"j"}`) ||
		!strings.Contains(v, `"mj":"{\"a\":1}","j":"[]"`) {
		t.Errorf("JSON columns: %s", v)
	}
}

func mysqlGeom(srid uint32, wkb []byte) change.Value {
	b := binary.LittleEndian.AppendUint32(nil, srid)
	return change.NewBytes(append(b, wkb...))
}

func wkbPointBytes(x, y float64) []byte {
	b := []byte{1, 1, 0, 0, 0}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(y))
}

func TestGeometry(t *testing.T) {
	tbl := &change.Table{Database: "d", Name: "t", Columns: []change.Column{{Name: "id", Type: "INT"},
		{Name: "g", Type: "GEOMETRY", ColumnType: "geometry"}, {Name: "p", Type: "POINT", ColumnType: "point", Nullable: true}}, PrimaryKey: []int{0}}
	pt := wkbPointBytes(1, -2.5)
	row := []change.Value{change.NewInt(1), mysqlGeom(4326, pt), mysqlGeom(0, pt)}
	recs, err := newMode(t, Envelope, `{}`).Serialize(context.Background(), []*change.Change{{ID: "x", Op: change.OpInsert, Table: tbl, After: row}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := string(recs[0].Body())
	for _, want := range []string{
		// Geometry is optional even in a NOT NULL column, as Debezium's schema builder makes it
		`{"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Geometry","version":1,"doc":"Geometry","field":"g"}`,
		`{"type":"struct","fields":[{"type":"double","optional":false,"field":"x"},{"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Point","version":1,"doc":"Geometry (POINT)","field":"p"}`,
		`"g":{"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAATA","srid":4326}`,
		`"p":{"x":1.0,"y":-2.5,"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAATA","srid":null}`,
	} {
		if !strings.Contains(v, want) {
			t.Errorf("missing %s in\n%s", want, v)
		}
	}
}

func TestFloatsAsJava(t *testing.T) {
	tbl := &change.Table{Database: "d", Name: "t", Columns: []change.Column{{Name: "id", Type: "INT"},
		{Name: "f", Type: "FLOAT", ColumnType: "float", Nullable: true}, {Name: "fmd", Type: "FLOAT", ColumnType: "float(30,10)", Nullable: true},
		{Name: "d", Type: "DOUBLE", ColumnType: "double", Nullable: true}, {Name: "dec", Type: "DECIMAL", ColumnType: "decimal(20,10)", Scale: 10, Nullable: true}}, PrimaryKey: []int{0}}
	row := []change.Value{change.NewInt(1), change.NewFloat32(1e-7), change.NewFloat32(0.1), change.NewFloat64(1e21), change.MustDecimal("1.0000000000")}
	after := one(t, newMode(t, Flatten, `{"decimal_handling":"double"}`), &change.Change{ID: "x", Op: change.OpInsert, Table: tbl, After: row})["after"]
	for k, want := range map[string]string{"f": "1.0E-7", "fmd": "0.10000000149011612", "d": "1.0E21", "dec": "1.0"} {
		if g := field(t, after, k); g != want {
			t.Errorf("%s = %s, want %s", k, g, want)
		}
	}
}

func TestZeroDates(t *testing.T) {
	tbl := &change.Table{Database: "d", Name: "t", Columns: []change.Column{{Name: "id", Type: "INT"},
		{Name: "dn", Type: "DATE", Nullable: true}, {Name: "dnn", Type: "DATE"}, {Name: "y0", Type: "DATE", Nullable: true}}, PrimaryKey: []int{0}}
	zero, _ := change.NewDate(0, 0, 0)
	y0, _ := change.NewDate(0, 1, 1)
	after := one(t, newMode(t, Flatten, `{}`), &change.Change{ID: "x", Op: change.OpInsert, Table: tbl, After: []change.Value{change.NewInt(1), zero, zero, y0}})["after"]
	for k, want := range map[string]string{"dn": "null", "dnn": "0", "y0": "null"} {
		if g := field(t, after, k); g != want {
			t.Errorf("%s = %s, want %s", k, g, want)
		}
	}
}

// The envelope's schema is each record's Head, one array per table shared by its records
// (never copied per record); the value is the rest, and head and value make the message.
func TestEnvelopeSchemaIsASharedHead(t *testing.T) {
	t1 := &change.Table{Database: "d", Name: "t", Columns: []change.Column{{Name: "id", Type: "INT"}}, PrimaryKey: []int{0}}
	t2 := &change.Table{Database: "d", Name: "u", Columns: []change.Column{{Name: "id", Type: "INT"}}, PrimaryKey: []int{0}}
	row := func(tb *change.Table, id int64) *change.Change {
		return &change.Change{ID: "x", Op: change.OpInsert, Table: tb, After: []change.Value{change.NewInt(id)}}
	}
	for _, mode := range []Mode{Envelope, Flatten, SMT} {
		s := newMode(t, mode, `{}`)
		recs, err := s.Serialize(context.Background(), []*change.Change{row(t1, 1), row(t1, 2), row(t2, 3)}, nil)
		if err != nil || len(recs) != 3 {
			t.Fatalf("mode %d: %d records, %v", mode, len(recs), err)
		}
		for i, r := range recs {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r.Body(), &m); err != nil {
				t.Fatalf("mode %d record %d: %v: %s", mode, i, err, r.Body())
			}
			if mode != Envelope {
				if r.Head != nil {
					t.Errorf("mode %d record %d has a head %q", mode, i, r.Head)
				}
				continue
			}
			if !strings.HasPrefix(string(r.Head), `{"schema":`) || !strings.HasSuffix(string(r.Head), `"payload":`) ||
				!strings.HasPrefix(string(r.Value), `{"before":`) {
				t.Errorf("record %d: head %.30q... value %.30q...", i, r.Head, r.Value)
			}
			if cap(r.Head) != len(r.Head) {
				t.Errorf("record %d: head has spare capacity: an append would write into the shared array", i)
			}
			if _, ok := m["payload"]; !ok {
				t.Errorf("record %d: no payload in %s", i, r.Body())
			}
		}
		if mode == Envelope {
			if &recs[0].Head[0] != &recs[1].Head[0] {
				t.Error("two records of one table have two copies of its schema")
			}
			if string(recs[0].Head) == string(recs[2].Head) {
				t.Error("two tables have the same schema")
			}
		}
	}
}
