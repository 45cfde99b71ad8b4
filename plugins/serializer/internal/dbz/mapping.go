package dbz

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fmtkit"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/javafmt"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/jsonw"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// kind is how a column is represented, following Debezium's MySQL connector with
// time.precision.mode=adaptive_time_microseconds and binary.handling.mode=bytes.
type kind uint8

const (
	kString         kind = iota // string
	kInt16                      // TINYINT, SMALLINT
	kInt32                      // MEDIUMINT, INT, SMALLINT UNSIGNED, MEDIUMINT UNSIGNED
	kInt64                      // BIGINT, INT UNSIGNED, BIGINT UNSIGNED in long mode
	kUnsignedDec                // BIGINT UNSIGNED in precise mode: Decimal, scale 0
	kFloat32                    // FLOAT, REAL
	kFloat64                    // DOUBLE, FLOAT(M,D)
	kDecimalString              // DECIMAL, decimal_handling=string
	kDecimalDouble              // DECIMAL, decimal_handling=double
	kDecimalPrecise             // DECIMAL, decimal_handling=precise
	kBytes                      // BINARY, VARBINARY, BLOB family
	kBool                       // BIT(1), BOOLEAN
	kBits                       // BIT(n>1): io.debezium.data.Bits, little-endian bytes
	kDate                       // io.debezium.time.Date: days since epoch
	kTimestamp                  // DATETIME(0..3): io.debezium.time.Timestamp, ms
	kMicroTimestamp             // DATETIME(4..6): io.debezium.time.MicroTimestamp, µs
	kZoned                      // TIMESTAMP: io.debezium.time.ZonedTimestamp, ISO-8601 UTC
	kMicroTime                  // TIME: io.debezium.time.MicroTime, µs
	kYear                       // YEAR: io.debezium.time.Year
	kJSON                       // io.debezium.data.Json (MySQL and OceanBase JSON; MariaDB's is a string)
	kEnum                       // io.debezium.data.Enum
	kSet                        // io.debezium.data.EnumSet
	kGeometry                   // io.debezium.data.geometry.Geometry {wkb, srid}
	kPoint                      // io.debezium.data.geometry.Point {x, y, wkb, srid}
)

// origin is what decides the few values Debezium writes differently in snapshot rows (read
// over JDBC) and in change rows (decoded from the binlog).
type origin struct {
	// snapshot: the row was read by the snapshot. A zero TIMESTAMP is then NULL (the epoch in
	// a NOT NULL column); from the binlog it is the epoch instant 0.
	snapshot bool
	// trimFraction: write TIMESTAMP fractions trimmed (java.sql.Timestamp formatted with
	// ISO_OFFSET_DATE_TIME), not with the column's fsp digits (a ZonedDateTime formatted
	// with the column's width).
	trimFraction bool
}

type col struct {
	fmtkit.Col
	kind  kind
	scale int
}

type table struct {
	cols []col
	// schema is `{"schema":{...},"payload":` for the Envelope mode.
	schema []byte
}

func columnKind(c *change.Column, o Options) kind {
	switch strings.ToUpper(c.Type) {
	case "BOOL", "BOOLEAN":
		return kBool
	case "TINYINT":
		return kInt16
	case "SMALLINT":
		if c.Unsigned {
			return kInt32
		}
		return kInt16
	case "MEDIUMINT":
		return kInt32
	case "INT", "INTEGER":
		if c.Unsigned {
			return kInt64
		}
		return kInt32
	case "BIGINT":
		if c.Unsigned && o.BigintUnsignedHandling == "precise" {
			return kUnsignedDec
		}
		return kInt64
	case "FLOAT":
		if strings.Contains(c.ColumnType, ",") { // FLOAT(M,D)
			return kFloat64
		}
		return kFloat32
	case "REAL":
		return kFloat32
	case "DOUBLE":
		return kFloat64
	case "DECIMAL", "NUMERIC", "DEC", "FIXED":
		switch o.DecimalHandling {
		case "precise":
			return kDecimalPrecise
		case "double":
			return kDecimalDouble
		}
		return kDecimalString
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB":
		return kBytes
	case "BIT":
		if fmtkit.BitWidth(c) == 1 {
			return kBool
		}
		return kBits
	case "DATE":
		return kDate
	case "DATETIME":
		if c.Fsp > 3 {
			return kMicroTimestamp
		}
		return kTimestamp
	case "TIMESTAMP":
		return kZoned
	case "TIME":
		return kMicroTime
	case "YEAR":
		return kYear
	case "JSON":
		if isMariaDBJSON(c) {
			return kString // MariaDB's JSON is a LONGTEXT: its DDL says longtext, so Debezium sees text
		}
		return kJSON
	case "ENUM":
		return kEnum
	case "SET":
		return kSet
	case "POINT":
		return kPoint
	case "GEOMETRY", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
		"GEOMETRYCOLLECTION", "GEOMCOLLECTION":
		return kGeometry
	}
	return kString
}

// isMariaDBJSON reports a MariaDB JSON column: a LONGTEXT with a json_valid check, which
// the source names JSON while its column type stays "longtext".
func isMariaDBJSON(c *change.Column) bool {
	return strings.HasPrefix(strings.ToLower(c.ColumnType), "longtext")
}

func buildTable(t *change.Table, o Options, mode Mode) *table {
	fc := fmtkit.Cols(t)
	tb := &table{cols: make([]col, len(fc))}
	for i := range fc {
		tb.cols[i] = col{Col: fc[i], kind: columnKind(fc[i].Column, o), scale: fc[i].Scale}
	}
	if mode == Envelope {
		tb.schema = slices.Clip(buildSchema(t, tb, o)) // shared by records as their Head: never appended to
	}
	return tb
}

// buildSchema writes the Kafka Connect JSON schema of the envelope, with the member order of
// Kafka's JsonConverter (type, fields, optional, name, version, doc, parameters, default,
// field) and the envelope's fields in Debezium's order: before, after, source, transaction,
// op, ts_ms, ts_us, ts_ns. The envelope schema has version 2, the source schema version 1;
// the row (Value) schemas have none.
func buildSchema(t *change.Table, tb *table, o Options) []byte {
	prefix := o.ServerName + "." + t.Database + "." + t.Name
	value := jsonw.AppendString(nil, prefix+".Value")
	b := []byte(`{"schema":{"type":"struct","fields":[`)
	for _, image := range []string{"before", "after"} {
		b = append(b, `{"type":"struct","fields":[`...)
		for i := range tb.cols {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFieldSchema(b, &tb.cols[i])
		}
		b = append(b, `],"optional":true,"name":`...)
		b = append(b, value...)
		b = append(b, `,"field":"`...)
		b = append(b, image...)
		b = append(b, `"},`...)
	}
	b = append(b, sourceSchemaHead...)
	b = append(b, o.Connector...)
	b = append(b, sourceSchemaTail...)
	b = append(b, ',')
	b = append(b, transactionSchema...)
	b = append(b, `,{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},`+
		`{"type":"int64","optional":true,"field":"ts_us"},{"type":"int64","optional":true,"field":"ts_ns"}`...)
	b = append(b, `],"optional":false,"name":`...)
	b = jsonw.AppendString(b, prefix+".Envelope")
	return append(b, `,"version":2},"payload":`...)
}

// The source schema of Debezium's binlog connectors (common fields, then the binlog ones),
// named io.debezium.connector.<connector>.Source.
const sourceSchemaHead = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"version"},` +
	`{"type":"string","optional":false,"field":"connector"},` +
	`{"type":"string","optional":false,"field":"name"},` +
	`{"type":"int64","optional":false,"field":"ts_ms"},` +
	`{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","field":"snapshot"},` +
	`{"type":"string","optional":false,"field":"db"},` +
	`{"type":"string","optional":true,"field":"sequence"},` +
	`{"type":"int64","optional":true,"field":"ts_us"},` +
	`{"type":"int64","optional":true,"field":"ts_ns"},` +
	`{"type":"string","optional":true,"field":"table"},` +
	`{"type":"int64","optional":false,"field":"server_id"},` +
	`{"type":"string","optional":true,"field":"gtid"},` +
	`{"type":"string","optional":false,"field":"file"},` +
	`{"type":"int64","optional":false,"field":"pos"},` +
	`{"type":"int32","optional":false,"field":"row"},` +
	`{"type":"int64","optional":true,"field":"thread"},` +
	`{"type":"string","optional":true,"field":"query"}` +
	`],"optional":false,"name":"io.debezium.connector.`

const sourceSchemaTail = `.Source","version":1,"field":"source"}`

const transactionSchema = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"id"},` +
	`{"type":"int64","optional":false,"field":"total_order"},` +
	`{"type":"int64","optional":false,"field":"data_collection_order"}` +
	`],"optional":true,"name":"event.block","version":1,"field":"transaction"}`

// appendFieldSchema appends the Kafka Connect schema of column c: a struct for the geometry
// kinds, otherwise its type, its Debezium logical type and that type's parameters.
func appendFieldSchema(b []byte, c *col) []byte {
	switch c.kind {
	case kGeometry:
		// Debezium's Geometry schema is optional even for a NOT NULL column
		b = append(b, `{"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Geometry","version":1,"doc":"Geometry","field":`...)
		b = append(b, c.Name...)
		return append(b, '}')
	case kPoint:
		b = append(b, `{"type":"struct","fields":[{"type":"double","optional":false,"field":"x"},{"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":`...)
		b = jsonw.AppendBool(b, c.Nullable)
		b = append(b, `,"name":"io.debezium.data.geometry.Point","version":1,"doc":"Geometry (POINT)","field":`...)
		b = append(b, c.Name...)
		return append(b, '}')
	}
	typ, name := connectType(c.kind)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","optional":`...)
	b = jsonw.AppendBool(b, c.Nullable)
	if name != "" {
		b = append(b, `,"name":"`...)
		b = append(b, name...)
		b = append(b, `","version":1`...)
	}
	b = appendSchemaParameters(b, c)
	b = append(b, `,"field":`...)
	b = append(b, c.Name...)
	return append(b, '}')
}

// connectType returns the Kafka Connect type of a column of kind k (a geometry kind
// excepted) and the name of its Debezium logical type, empty if it has none.
func connectType(k kind) (typ, name string) {
	switch k {
	case kInt16:
		return "int16", ""
	case kInt32:
		return "int32", ""
	case kInt64:
		return "int64", ""
	case kUnsignedDec, kDecimalPrecise:
		return "bytes", "org.apache.kafka.connect.data.Decimal"
	case kFloat32:
		return "float", ""
	case kFloat64, kDecimalDouble:
		return "double", ""
	case kBytes:
		return "bytes", ""
	case kBool:
		return "boolean", ""
	case kBits:
		return "bytes", "io.debezium.data.Bits"
	case kDate:
		return "int32", "io.debezium.time.Date"
	case kTimestamp:
		return "int64", "io.debezium.time.Timestamp"
	case kMicroTimestamp:
		return "int64", "io.debezium.time.MicroTimestamp"
	case kZoned:
		return "string", "io.debezium.time.ZonedTimestamp"
	case kMicroTime:
		return "int64", "io.debezium.time.MicroTime"
	case kYear:
		return "int32", "io.debezium.time.Year"
	case kJSON:
		return "string", "io.debezium.data.Json"
	case kEnum:
		return "string", "io.debezium.data.Enum"
	case kSet:
		return "string", "io.debezium.data.EnumSet"
	}
	return "string", ""
}

// appendSchemaParameters appends the "parameters" member of column c's schema, for the
// logical types that have some (Decimal, Bits, Enum, EnumSet).
func appendSchemaParameters(b []byte, c *col) []byte {
	var params [][2]string
	switch c.kind {
	case kUnsignedDec:
		params = [][2]string{{"scale", "0"}, {"connect.decimal.precision", "20"}}
	case kDecimalPrecise:
		params = [][2]string{{"scale", strconv.Itoa(c.Scale)}}
		if c.Precision > 0 {
			params = append(params, [2]string{"connect.decimal.precision", strconv.Itoa(c.Precision)})
		}
	case kBits:
		params = [][2]string{{"length", strconv.Itoa(c.Bits)}}
	case kEnum, kSet:
		params = [][2]string{{"allowed", strings.Join(c.Elems, ",")}}
	default:
		return b
	}
	b = append(b, `,"parameters":{`...)
	for i, p := range params {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, p[0])
		b = append(b, ':')
		b = jsonw.AppendString(b, p[1])
	}
	return append(b, '}')
}

// appendValue writes v as the column's Debezium representation. Zero dates are null in
// nullable columns and the epoch otherwise, as Debezium does (a zero TIMESTAMP from the
// binlog is the epoch instant, see appendTemporal). Floating-point numbers are written as
// Jackson writes them for Kafka's JsonConverter (Java's Float.toString/Double.toString);
// NaN and infinite floats, which MySQL cannot store, are null. A value whose kind does not
// fit the column's type is written by its own kind.
func appendValue(b []byte, c *col, v change.Value, o origin) []byte {
	k := v.Kind()
	if k == change.KindNull {
		return append(b, "null"...)
	}
	switch c.kind {
	case kInt16, kInt32, kInt64:
		switch k {
		case change.KindInt:
			return strconv.AppendInt(b, v.Int(), 10)
		case change.KindUint, change.KindBit, change.KindYear:
			return strconv.AppendInt(b, int64(v.Uint()), 10) // BIGINT UNSIGNED above 2^63-1 wraps, as Debezium's long mode
		}
	case kUnsignedDec:
		if k == change.KindUint || k == change.KindInt {
			return jsonw.AppendBase64Bytes(b, unscaledBytes(nil, v.AppendText(nil, -1), 0))
		}
	case kFloat32, kFloat64:
		if k == change.KindFloat32 || k == change.KindFloat64 {
			f := v.Float()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return append(b, "null"...)
			}
			if c.kind == kFloat32 && k == change.KindFloat32 {
				return javafmt.AppendFloat(b, v.Float32())
			}
			return javafmt.AppendDouble(b, f) // a FLOAT widened exactly, as Float.doubleValue

		}
	case kDecimalString:
		if k == change.KindDecimal {
			return jsonw.AppendString(b, v.Str())
		}
	case kDecimalDouble:
		if k == change.KindDecimal {
			f, err := strconv.ParseFloat(v.Str(), 64)
			if err != nil || math.IsInf(f, 0) {
				return append(b, "null"...)
			}
			return javafmt.AppendDouble(b, f)
		}
	case kDecimalPrecise:
		if k == change.KindDecimal {
			return jsonw.AppendBase64Bytes(b, unscaledBytes(nil, []byte(v.Str()), c.Scale))
		}
	case kBool:
		switch k {
		case change.KindBit, change.KindUint:
			return jsonw.AppendBool(b, v.Uint() != 0)
		case change.KindInt:
			return jsonw.AppendBool(b, v.Int() != 0)
		}
	case kBits:
		if k == change.KindBit || k == change.KindUint {
			var tmp [8]byte
			return jsonw.AppendBase64Bytes(b, fmtkit.BitBytes(tmp[:0], v.Uint(), c.Bits, true))
		}
	case kDate, kTimestamp, kMicroTimestamp, kZoned:
		if k == change.KindDate || k == change.KindDateTime || k == change.KindTimestamp {
			return appendTemporal(b, c, v, o)
		}
	case kMicroTime:
		if k == change.KindTime {
			return strconv.AppendInt(b, v.Temporal().Duration().Microseconds(), 10)
		}
	case kYear:
		if k == change.KindYear || k == change.KindUint {
			return strconv.AppendUint(b, v.Uint(), 10)
		}
	case kGeometry, kPoint:
		if k == change.KindBytes {
			return appendGeometry(b, c, v.Str())
		}
	}
	return appendByKind(b, c, v)
}

// appendByKind writes a value by its own kind: numbers as numbers, binary as Base64, the
// rest as text.
func appendByKind(b []byte, c *col, v change.Value) []byte {
	switch v.Kind() {
	case change.KindInt:
		return strconv.AppendInt(b, v.Int(), 10)
	case change.KindUint:
		return strconv.AppendUint(b, v.Uint(), 10)
	case change.KindFloat32:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		return javafmt.AppendFloat(b, v.Float32())
	case change.KindFloat64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		return javafmt.AppendDouble(b, f)
	case change.KindBytes:
		return jsonw.AppendBase64(b, v.Str())
	case change.KindString, change.KindJSON, change.KindEnum, change.KindSet, change.KindDecimal:
		return jsonw.AppendString(b, v.Str())
	}
	b = append(b, '"')
	b = v.AppendText(b, c.Fsp)
	return append(b, '"')
}

func appendTemporal(b []byte, c *col, v change.Value, o origin) []byte {
	t := v.Temporal()
	tm, ok := t.Time(nil)
	if !ok || t.IsZeroDate() {
		switch {
		case c.kind == kZoned && !o.snapshot:
			// the binlog holds a zero TIMESTAMP as second 0: Debezium writes the epoch, with
			// the column's fraction digits, nullable or not
			return appendZoned(b, change.Temporal{Year: 1970, Month: 1, Day: 1}, c.Fsp, o.trimFraction)
		case c.Nullable:
			return append(b, "null"...)
		case c.kind == kZoned:
			if o.trimFraction {
				return append(b, `"1970-01-01T00:00:00Z"`...)
			}
			return appendZoned(b, change.Temporal{Year: 1970, Month: 1, Day: 1}, c.Fsp, false)
		}
		return append(b, '0')
	}
	switch c.kind {
	case kDate:
		secs := tm.Unix()
		days := secs / 86400
		if secs%86400 < 0 {
			days--
		}
		return strconv.AppendInt(b, days, 10)
	case kTimestamp:
		return strconv.AppendInt(b, tm.UnixMilli(), 10)
	case kMicroTimestamp:
		return strconv.AppendInt(b, tm.UnixMicro(), 10)
	}
	return appendZoned(b, t, c.Fsp, o.trimFraction)
}

// appendZoned writes a ZonedTimestamp: ISO-8601 in UTC, "2038-01-19T03:14:07.999Z", with
// exactly fsp fraction digits, or with trim the fraction's significant digits only (none
// when it is zero), as ISO_OFFSET_DATE_TIME prints it.
func appendZoned(b []byte, t change.Temporal, fsp int, trim bool) []byte {
	if trim {
		fsp = -1
	}
	b = append(b, '"')
	start := len(b)
	b = t.AppendText(b, change.KindTimestamp, fsp)
	b[start+10] = 'T'
	return append(b, 'Z', '"')
}

// appendGeometry writes a spatial value held in MySQL's internal form (a 4-byte
// little-endian SRID, then the WKB) as Debezium's Geometry {wkb, srid} or, for POINT
// columns, Point {x, y, wkb, srid}; srid is null when 0. A POINT whose WKB is not a 2D point
// is null (Debezium stops on it).
func appendGeometry(b []byte, c *col, raw string) []byte {
	wkb, srid := raw, uint32(0)
	if len(raw) >= 4 {
		srid = binary.LittleEndian.Uint32([]byte(raw[:4]))
		wkb = raw[4:]
	}
	b = append(b, '{')
	if c.kind == kPoint {
		x, y, ok := wkbPoint(wkb)
		if !ok {
			return append(b[:len(b)-1], "null"...)
		}
		b = append(b, `"x":`...)
		b = javafmt.AppendDouble(b, x)
		b = append(b, `,"y":`...)
		b = javafmt.AppendDouble(b, y)
		b = append(b, ',')
	}
	b = append(b, `"wkb":`...)
	b = jsonw.AppendBase64(b, wkb)
	b = append(b, `,"srid":`...)
	if srid == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(int32(srid)), 10)
	}
	return append(b, '}')
}

// wkbPoint reads a 2D point's WKB: byte order, type 1, x, y (21 bytes).
func wkbPoint(wkb string) (x, y float64, ok bool) {
	if len(wkb) != 21 {
		return 0, 0, false
	}
	var order binary.ByteOrder = binary.LittleEndian
	if wkb[0] == 0 {
		order = binary.BigEndian
	}
	w := []byte(wkb)
	if order.Uint32(w[1:5]) != 1 {
		return 0, 0, false
	}
	return math.Float64frombits(order.Uint64(w[5:13])), math.Float64frombits(order.Uint64(w[13:21])), true
}

// unscaledBytes appends the big-endian two's-complement bytes (minimal length, as Java's
// BigInteger.toByteArray) of the decimal text's unscaled value at the given scale: the
// text's digits with its fraction padded or cut to scale digits.
func unscaledBytes(dst []byte, text []byte, scale int) []byte {
	var digits [80]byte
	neg, d := unscaledDigits(digits[:0], text, scale)
	var mag [48]byte
	m := magnitude(mag[:0], d)
	return appendTwosComplement(dst, m, neg)
}

// unscaledDigits appends to d the decimal digits of text's unscaled value at the given scale
// (its fraction padded with zeros or cut to scale digits), and reports whether text is
// negative.
func unscaledDigits(d []byte, text []byte, scale int) (neg bool, _ []byte) {
	if len(text) > 0 && (text[0] == '-' || text[0] == '+') {
		neg = text[0] == '-'
		text = text[1:]
	}
	frac := -1
	for _, ch := range text {
		if ch == '.' {
			frac = 0
			continue
		}
		if frac >= 0 {
			if frac == scale {
				continue // cut digits beyond the scale
			}
			frac++
		}
		d = append(d, ch)
	}
	if frac < 0 {
		frac = 0
	}
	for ; frac < scale; frac++ {
		d = append(d, '0')
	}
	return neg, d
}

// magnitude appends to m the value of the decimal digits d as big-endian base-256 bytes,
// without leading zero bytes (one zero byte for zero), by repeated division.
func magnitude(m []byte, d []byte) []byte {
	num := []byte(string(d))
	for i := range num {
		num[i] -= '0'
	}
	for len(num) > 0 {
		rem := 0
		q := num[:0]
		for _, dig := range num {
			cur := rem*10 + int(dig)
			qd := cur / 256
			rem = cur % 256
			if len(q) > 0 || qd > 0 {
				q = append(q, byte(qd))
			}
		}
		m = append(m, byte(rem))
		num = q
	}
	// m is little-endian; make it big-endian.
	for i, j := 0, len(m)-1; i < j; i, j = i+1, j-1 {
		m[i], m[j] = m[j], m[i]
	}
	for len(m) > 1 && m[0] == 0 {
		m = m[1:]
	}
	if len(m) == 0 {
		m = append(m, 0)
	}
	return m
}

// appendTwosComplement appends the minimal big-endian two's-complement bytes of the value
// whose magnitude is m, negative if neg.
func appendTwosComplement(dst []byte, m []byte, neg bool) []byte {
	zero := len(m) == 1 && m[0] == 0
	if !neg || zero {
		if m[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		return append(dst, m...)
	}
	// Two's complement of the magnitude: invert and add one.
	out := make([]byte, len(m))
	carry := 1
	for i := len(m) - 1; i >= 0; i-- {
		x := int(^m[i]) + carry
		out[i] = byte(x)
		carry = x >> 8
	}
	if out[0]&0x80 == 0 { // needs a sign byte
		dst = append(dst, 0xff)
	}
	// Drop redundant leading 0xff bytes (keep the minimal length).
	for len(out) > 1 && out[0] == 0xff && out[1]&0x80 != 0 {
		out = out[1:]
	}
	return append(dst, out...)
}
