package debezium

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/dbz"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/javafmt"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// connectSchema is a Kafka Connect JSON schema (JsonConverter with schemas enabled).
type connectSchema struct {
	Type       string            `json:"type"`
	Fields     []connectSchema   `json:"fields"`
	Optional   bool              `json:"optional"`
	Name       string            `json:"name"`
	Version    int               `json:"version"`
	Doc        string            `json:"doc"`
	Parameters map[string]string `json:"parameters"`
	Default    json.RawMessage   `json:"default"`
	Field      string            `json:"field"`
}

// payload is Debezium's change-event value: before, after, source, transaction, op, ts_ms,
// ts_us, ts_ns.
type payload struct {
	Before      map[string]json.RawMessage `json:"before"`
	After       map[string]json.RawMessage `json:"after"`
	Source      source                     `json:"source"`
	Transaction json.RawMessage            `json:"transaction"`
	Op          string                     `json:"op"`
	TsMs        int64                      `json:"ts_ms"`
	TsUs        int64                      `json:"ts_us"`
	TsNs        int64                      `json:"ts_ns"`
}

// source is io.debezium.connector.mysql.Source.
type source struct {
	Version   string  `json:"version"`
	Connector string  `json:"connector"`
	Name      string  `json:"name"`
	TsMs      int64   `json:"ts_ms"`
	Snapshot  string  `json:"snapshot"`
	DB        string  `json:"db"`
	Sequence  *string `json:"sequence"`
	TsUs      int64   `json:"ts_us"`
	TsNs      int64   `json:"ts_ns"`
	Table     string  `json:"table"`
	ServerID  int64   `json:"server_id"`
	GTID      *string `json:"gtid"`
	File      string  `json:"file"`
	Pos       int64   `json:"pos"`
	Row       int32   `json:"row"`
	Thread    *int64  `json:"thread"`
	Query     *string `json:"query"`
}

type envelope struct {
	Schema  connectSchema `json:"schema"`
	Payload payload       `json:"payload"`
}

func strictDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("cannot decode %s: %v", b, err)
	}
}

var opCodes = map[change.Op]string{change.OpSnapshot: "r", change.OpInsert: "c", change.OpUpdate: "u", change.OpDelete: "d"}

func TestEnvelopeReadsEveryChange(t *testing.T) {
	for _, cfg := range []string{`{}`, `{"decimal_handling":"precise","bigint_unsigned_handling":"precise"}`, `{"decimal_handling":"double"}`} {
		s := newTest(t, cfg)
		for _, tc := range fixture.Cases() {
			c := tc.Change
			vals := fixture.Serialize(t, s, c)
			if !c.Op.IsRow() {
				if len(vals) != 0 {
					t.Errorf("%s gave %d records", tc.Name, len(vals))
				}
				continue
			}
			var e envelope
			strictDecode(t, vals[0], &e)
			if e.Schema.Type != "struct" || e.Schema.Name != "ferry.shop.orders.Envelope" || e.Schema.Version != 2 || len(e.Schema.Fields) != 8 {
				t.Fatalf("envelope schema %+v", e.Schema)
			}
			var value connectSchema
			for i, f := range e.Schema.Fields {
				if want := []string{"before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"}[i]; f.Field != want {
					t.Errorf("envelope field %d is %q, want %q", i, f.Field, want)
				}
				if f.Field == "after" {
					value = f
				}
				if f.Field == "source" && (f.Name != "io.debezium.connector.mysql.Source" || f.Version != 1) {
					t.Errorf("source schema %s version %d", f.Name, f.Version)
				}
			}
			if value.Name != "ferry.shop.orders.Value" || len(value.Fields) != len(c.Table.Columns) {
				t.Fatalf("value schema %+v", value)
			}
			p := e.Payload
			checkEnvelope(t, tc.Name, c, p)
			if c.Op == change.OpUpdate || c.Op == change.OpDelete {
				checkImage(t, c.Table, value, p.Before, c.Before)
			} else if p.Before != nil {
				t.Errorf("%s: before = %v", tc.Name, p.Before)
			}
			if c.Op != change.OpDelete {
				checkImage(t, c.Table, value, p.After, c.After)
			} else if p.After != nil {
				t.Errorf("%s: after = %v", tc.Name, p.After)
			}
		}
	}
}

func checkEnvelope(t *testing.T, name string, c *change.Change, p payload) {
	t.Helper()
	if p.Op != opCodes[c.Op] || p.TsMs != fixture.BuildTime.UnixMilli() || p.TsUs != fixture.BuildTime.UnixMicro() ||
		p.TsNs != fixture.BuildTime.UnixNano() || string(p.Transaction) != "null" {
		t.Errorf("%s: op %q ts_ms %d ts_us %d ts_ns %d transaction %s", name, p.Op, p.TsMs, p.TsUs, p.TsNs, p.Transaction)
	}
	src := p.Source
	wantSnap := "false"
	if c.Op == change.OpSnapshot {
		wantSnap = "true"
	}
	if src.Connector != "mysql" || src.Name != "ferry" || src.DB != "shop" || src.Table != "orders" ||
		src.TsMs != c.CommitTime.UnixMilli() || src.TsUs != c.CommitTime.UnixMicro() || src.TsNs != c.CommitTime.UnixNano() ||
		src.Snapshot != wantSnap || src.File != c.Meta["binlog_file"] {
		t.Errorf("%s: source %+v", name, src)
	}
	wantGTID := c.Meta["gtid"]
	if wantGTID == "" && len(c.TxID) > 37 && c.TxID[36] == ':' { // a MySQL GTID, uuid:n
		wantGTID = c.TxID
	}
	if (wantGTID != "") != (src.GTID != nil) || (src.GTID != nil && *src.GTID != wantGTID) {
		t.Errorf("%s: gtid %v for transaction %q", name, src.GTID, c.TxID)
	}
	if c.Meta != nil && (strconv.FormatInt(src.Pos, 10) != c.Meta["binlog_pos"] || strconv.FormatInt(src.ServerID, 10) != c.Meta["server_id"]) {
		t.Errorf("%s: pos %d server_id %d", name, src.Pos, src.ServerID)
	}
}

// checkImage decodes every field of a row image by its Connect schema, as a Debezium
// consumer would, and compares it with the source value.
func checkImage(t *testing.T, tbl *change.Table, schema connectSchema, got map[string]json.RawMessage, want []change.Value) {
	t.Helper()
	if len(got) != len(tbl.Columns) {
		t.Errorf("image has %d fields, want %d", len(got), len(tbl.Columns))
	}
	for i, f := range schema.Fields {
		col := tbl.Columns[i]
		if f.Field != col.Name || f.Optional != col.Nullable {
			t.Errorf("field %d: %+v for column %s", i, f, col.Name)
		}
		if err := checkField(f, &col, got[col.Name], want[i]); err != "" {
			t.Errorf("%s (%s %s): %s: %s", col.Name, f.Type, f.Name, got[col.Name], err)
		}
	}
}

func checkField(f connectSchema, col *change.Column, raw json.RawMessage, v change.Value) string {
	if raw == nil {
		return "missing"
	}
	isNull := string(raw) == "null"
	zeroDate := false
	if k := v.Kind(); k == change.KindDate || k == change.KindDateTime || k == change.KindTimestamp {
		_, ok := v.Temporal().Time(nil)
		zeroDate = !ok
	}
	if v.IsNull() || (zeroDate && col.Nullable) {
		if !isNull {
			return "want null"
		}
		return ""
	}
	if isNull {
		return "unexpected null"
	}
	var str string
	var num json.Number
	if f.Type == "string" || f.Type == "bytes" {
		if err := json.Unmarshal(raw, &str); err != nil {
			return "not a string"
		}
	} else if f.Type != "boolean" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&num); err != nil {
			return "not a number"
		}
	}
	text := string(v.AppendText(nil, col.Fsp))
	switch f.Name {
	case "org.apache.kafka.connect.data.Decimal":
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil || len(b) == 0 {
			return "bad base64"
		}
		unscaled := new(big.Int).SetBytes(b)
		if b[0]&0x80 != 0 { // two's complement
			unscaled.Sub(unscaled, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		scale, _ := strconv.Atoi(f.Parameters["scale"])
		got := new(big.Rat).SetFrac(unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		wantR, _ := new(big.Rat).SetString(text)
		if got.Cmp(wantR) != 0 {
			return "decimal " + got.FloatString(scale) + ", want " + text
		}
		return ""
	case "io.debezium.time.Date":
		n, _ := num.Int64()
		if zeroDate {
			return wantInt(n, 0)
		}
		if got := time.Unix(n*86400, 0).UTC().Format("2006-01-02"); got != text {
			return "date " + got + ", want " + text
		}
		return ""
	case "io.debezium.time.Timestamp", "io.debezium.time.MicroTimestamp":
		n, _ := num.Int64()
		if zeroDate {
			return wantInt(n, 0)
		}
		tm, digits := time.UnixMilli(n).UTC(), 3
		if f.Name == "io.debezium.time.MicroTimestamp" {
			tm, digits = time.UnixMicro(n).UTC(), 6
		}
		got := tm.Format("2006-01-02 15:04:05." + strings.Repeat("0", digits))
		want := string(v.Temporal().AppendText(nil, change.KindDateTime, digits))
		if got != want {
			return "timestamp " + got + ", want " + want
		}
		return ""
	case "io.debezium.time.ZonedTimestamp":
		tm, err := time.Parse(time.RFC3339Nano, str)
		want, _ := v.Temporal().Time(nil)
		if err != nil || !tm.Equal(want) || tm.Location() != time.UTC {
			return "zoned timestamp, want " + want.String()
		}
		return ""
	case "io.debezium.time.MicroTime":
		n, _ := num.Int64()
		return wantInt(n, v.Temporal().Duration().Microseconds())
	case "io.debezium.time.Year":
		n, _ := num.Int64()
		return wantInt(n, int64(v.Uint()))
	case "io.debezium.data.Json":
		if str != v.Str() || !json.Valid([]byte(str)) {
			return "json text differs"
		}
		return ""
	case "io.debezium.data.Enum", "io.debezium.data.EnumSet":
		allowed := "," + f.Parameters["allowed"] + ","
		for _, m := range strings.Split(str, ",") {
			if !strings.Contains(allowed, ","+m+",") {
				return "member " + m + " not allowed"
			}
		}
		if str != v.Str() {
			return "want " + v.Str()
		}
		return ""
	case "io.debezium.data.Bits":
		b, err := base64.StdEncoding.DecodeString(str)
		n, _ := strconv.Atoi(f.Parameters["length"])
		if err != nil || len(b) != (n+7)/8 {
			return "bad bits length"
		}
		var u uint64
		for i := len(b) - 1; i >= 0; i-- { // little-endian
			u = u<<8 | uint64(b[i])
		}
		if u != v.Uint() {
			return "bits " + strconv.FormatUint(u, 2)
		}
		return ""
	}
	switch f.Type {
	case "int16", "int32", "int64":
		n, err := num.Int64()
		if err != nil {
			return err.Error()
		}
		lim := map[string]int64{"int16": math.MaxInt16, "int32": math.MaxInt32, "int64": math.MaxInt64}[f.Type]
		if n > lim || n < -lim-1 {
			return "out of range for " + f.Type
		}
		want := v.Int()
		if v.Kind() == change.KindUint {
			want = int64(v.Uint()) // BIGINT UNSIGNED above 2^63-1 wraps in long mode
		}
		return wantInt(n, want)
	case "float":
		if want := string(javafmt.AppendFloat(nil, v.Float32())); num.String() != want {
			return "float text " + num.String() + ", Java's " + want
		}
		g, err := strconv.ParseFloat(num.String(), 32)
		if err != nil || float32(g) != v.Float32() {
			return "float differs"
		}
	case "double":
		if want := string(javafmt.AppendDouble(nil, v.Float())); v.Kind() == change.KindFloat64 && num.String() != want {
			return "double text " + num.String() + ", Java's " + want
		}
		g, err := strconv.ParseFloat(num.String(), 64)
		want := v.Float()
		if v.Kind() == change.KindDecimal {
			want, _ = strconv.ParseFloat(v.Str(), 64)
		}
		if err != nil || g != want {
			return "double differs"
		}
	case "boolean":
		var bv bool
		if json.Unmarshal(raw, &bv) != nil || bv != (v.Uint() != 0) {
			return "boolean differs"
		}
	case "bytes":
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil || !bytes.Equal(b, v.Bytes()) {
			return "bytes differ"
		}
	case "string":
		if str != text {
			return "want " + text
		}
	default:
		return "unexpected type"
	}
	return ""
}

func wantInt(got, want int64) string {
	if got != want {
		return strconv.FormatInt(got, 10) + ", want " + strconv.FormatInt(want, 10)
	}
	return ""
}

// TestFlattenAndSMTCarryTheEnvelopeValues checks that debezium_flatten is exactly the
// envelope's payload and that debezium_smt is the row state with the added fields.
func TestFlattenAndSMTCarryTheEnvelopeValues(t *testing.T) {
	env := newTest(t, `{}`)
	flat := dbz.New(sdk.Info{Name: "f", Kind: sdk.KindSerializer}, dbz.Flatten)
	smt := dbz.New(sdk.Info{Name: "s", Kind: sdk.KindSerializer}, dbz.SMT)
	for _, s := range []*dbz.Serializer{flat, smt} {
		if err := s.Configure(context.Background(), sdk.NewConfig([]byte(`{}`))); err != nil {
			t.Fatal(err)
		}
		s.Hooks.Now = fixture.Now
	}
	for _, tc := range fixture.Cases() {
		c := tc.Change
		if !c.Op.IsRow() {
			continue
		}
		var e struct {
			Schema  json.RawMessage `json:"schema"`
			Payload json.RawMessage `json:"payload"`
		}
		strictDecode(t, fixture.Serialize(t, env, c)[0], &e)
		if f := fixture.Serialize(t, flat, c)[0]; !bytes.Equal(f, e.Payload) {
			t.Errorf("%s: flatten %s\nis not the payload %s", tc.Name, f, e.Payload)
		}
		var p payload
		strictDecode(t, e.Payload, &p)
		var row map[string]json.RawMessage
		strictDecode(t, fixture.Serialize(t, smt, c)[0], &row)
		state := p.After
		if c.Op == change.OpDelete {
			state = p.Before
		}
		for k, v := range state {
			if !bytes.Equal(row[k], v) {
				t.Errorf("%s: smt %s = %s, want %s", tc.Name, k, row[k], v)
			}
		}
		deleted := `"false"`
		if c.Op == change.OpDelete {
			deleted = `"true"`
		}
		extra := map[string]string{"__op": `"` + opCodes[c.Op] + `"`, "__db": `"shop"`, "__table": `"orders"`,
			"__source_ts_ms": strconv.FormatInt(c.CommitTime.UnixMilli(), 10), "__deleted": deleted}
		for k, v := range extra {
			if string(row[k]) != v {
				t.Errorf("%s: smt %s = %s, want %s", tc.Name, k, row[k], v)
			}
		}
		if len(row) != len(state)+len(extra) {
			t.Errorf("%s: smt has %d fields", tc.Name, len(row))
		}
	}
}

func TestConfigureRejects(t *testing.T) {
	for cfg, attr := range map[string]string{`{"decimal_handling":"exact"}`: "decimal_handling",
		`{"bigint_unsigned_handling":"string"}`: "bigint_unsigned_handling", `{"server_name":""}`: "server_name",
		`{"connector":"postgres"}`: "connector", `{"timestamp_fraction":"trim"}`: "timestamp_fraction"} {
		err := New().Configure(context.Background(), sdk.NewConfig([]byte(cfg)))
		if ae := sdk.AttributeErrors(err); len(ae) != 1 || ae[0].Attribute != attr {
			t.Errorf("%s: %v", cfg, err)
		}
	}
}
