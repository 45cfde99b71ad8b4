package dbz

import (
	"math"
	"strconv"
	"strings"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fmtkit"
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
	kJSON                       // io.debezium.data.Json
	kEnum                       // io.debezium.data.Enum
	kSet                        // io.debezium.data.EnumSet
	kGeometry                   // io.debezium.data.geometry.Geometry {wkb, srid}
)

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
		return kJSON
	case "ENUM":
		return kEnum
	case "SET":
		return kSet
	case "GEOMETRY", "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
		"GEOMETRYCOLLECTION", "GEOMCOLLECTION":
		return kGeometry
	}
	return kString
}

func buildTable(t *change.Table, o Options, mode Mode) *table {
	fc := fmtkit.Cols(t)
	tb := &table{cols: make([]col, len(fc))}
	for i := range fc {
		tb.cols[i] = col{Col: fc[i], kind: columnKind(fc[i].Column, o), scale: fc[i].Scale}
	}
	if mode == Envelope {
		tb.schema = buildSchema(t, tb, o)
	}
	return tb
}

// buildSchema writes the Kafka Connect JSON schema of the envelope, with the member order of
// Kafka's JsonConverter: type, fields, optional, name, version, parameters, default, field.
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
	b = append(b, sourceSchema...)
	b = append(b, `,{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},`...)
	b = append(b, transactionSchema...)
	b = append(b, `],"optional":false,"name":`...)
	b = jsonw.AppendString(b, prefix+".Envelope")
	return append(b, `},"payload":`...)
}

const sourceSchema = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"version"},` +
	`{"type":"string","optional":false,"field":"connector"},` +
	`{"type":"string","optional":false,"field":"name"},` +
	`{"type":"int64","optional":false,"field":"ts_ms"},` +
	`{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"},` +
	`{"type":"string","optional":false,"field":"db"},` +
	`{"type":"string","optional":true,"field":"sequence"},` +
	`{"type":"string","optional":true,"field":"table"},` +
	`{"type":"int64","optional":false,"field":"server_id"},` +
	`{"type":"string","optional":true,"field":"gtid"},` +
	`{"type":"string","optional":false,"field":"file"},` +
	`{"type":"int64","optional":false,"field":"pos"},` +
	`{"type":"int32","optional":false,"field":"row"},` +
	`{"type":"int64","optional":true,"field":"thread"},` +
	`{"type":"string","optional":true,"field":"query"}` +
	`],"optional":false,"name":"io.debezium.connector.mysql.Source","field":"source"}`

const transactionSchema = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"id"},` +
	`{"type":"int64","optional":false,"field":"total_order"},` +
	`{"type":"int64","optional":false,"field":"data_collection_order"}` +
	`],"optional":true,"name":"event.block","version":1,"field":"transaction"}`

func appendFieldSchema(b []byte, c *col) []byte {
	typ, name := "string", ""
	var params [][2]string
	switch c.kind {
	case kInt16:
		typ = "int16"
	case kInt32:
		typ = "int32"
	case kInt64:
		typ = "int64"
	case kUnsignedDec:
		typ, name = "bytes", "org.apache.kafka.connect.data.Decimal"
		params = [][2]string{{"scale", "0"}, {"connect.decimal.precision", "20"}}
	case kFloat32:
		typ = "float"
	case kFloat64, kDecimalDouble:
		typ = "double"
	case kDecimalPrecise:
		typ, name = "bytes", "org.apache.kafka.connect.data.Decimal"
		params = [][2]string{{"scale", strconv.Itoa(c.Scale)}}
		if c.Precision > 0 {
			params = append(params, [2]string{"connect.decimal.precision", strconv.Itoa(c.Precision)})
		}
	case kBytes:
		typ = "bytes"
	case kBool:
		typ = "boolean"
	case kBits:
		typ, name = "bytes", "io.debezium.data.Bits"
		params = [][2]string{{"length", strconv.Itoa(c.Bits)}}
	case kDate:
		typ, name = "int32", "io.debezium.time.Date"
	case kTimestamp:
		typ, name = "int64", "io.debezium.time.Timestamp"
	case kMicroTimestamp:
		typ, name = "int64", "io.debezium.time.MicroTimestamp"
	case kZoned:
		name = "io.debezium.time.ZonedTimestamp"
	case kMicroTime:
		typ, name = "int64", "io.debezium.time.MicroTime"
	case kYear:
		typ, name = "int32", "io.debezium.time.Year"
	case kJSON:
		name = "io.debezium.data.Json"
	case kEnum, kSet:
		name = "io.debezium.data.Enum"
		if c.kind == kSet {
			name = "io.debezium.data.EnumSet"
		}
		params = [][2]string{{"allowed", strings.Join(c.Elems, ",")}}
	case kGeometry:
		b = append(b, `{"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":`...)
		b = jsonw.AppendBool(b, c.Nullable)
		b = append(b, `,"name":"io.debezium.data.geometry.Geometry","version":1,"doc":"Geometry","field":`...)
		b = append(b, c.Name...)
		return append(b, '}')
	}
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","optional":`...)
	b = jsonw.AppendBool(b, c.Nullable)
	if name != "" {
		b = append(b, `,"name":"`...)
		b = append(b, name...)
		b = append(b, `","version":1`...)
	}
	if params != nil {
		b = append(b, `,"parameters":{`...)
		for i, p := range params {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, p[0])
			b = append(b, ':')
			b = jsonw.AppendString(b, p[1])
		}
		b = append(b, '}')
	}
	b = append(b, `,"field":`...)
	b = append(b, c.Name...)
	return append(b, '}')
}

// appendValue writes v as the column's Debezium representation. Zero dates are null in
// nullable columns and the epoch otherwise, as Debezium does. NaN and infinite floats,
// which MySQL cannot store, are null. A value whose kind does not fit the column's type is
// written by its own kind.
func appendValue(b []byte, c *col, v change.Value) []byte {
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
				return strconv.AppendFloat(b, float64(v.Float32()), 'g', -1, 32)
			}
			return strconv.AppendFloat(b, f, 'g', -1, 64)
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
			return strconv.AppendFloat(b, f, 'g', -1, 64)
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
			return appendTemporal(b, c, v)
		}
	case kMicroTime:
		if k == change.KindTime {
			return strconv.AppendInt(b, v.Temporal().Duration().Microseconds(), 10)
		}
	case kYear:
		if k == change.KindYear || k == change.KindUint {
			return strconv.AppendUint(b, v.Uint(), 10)
		}
	case kGeometry:
		if k == change.KindBytes {
			b = append(b, `{"wkb":`...)
			b = jsonw.AppendBase64(b, v.Str())
			return append(b, `,"srid":null}`...)
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
	case change.KindFloat32, change.KindFloat64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		return fmtkit.AppendFloat(b, v)
	case change.KindBytes:
		return jsonw.AppendBase64(b, v.Str())
	case change.KindString, change.KindJSON, change.KindEnum, change.KindSet, change.KindDecimal:
		return jsonw.AppendString(b, v.Str())
	}
	b = append(b, '"')
	b = v.AppendText(b, c.Fsp)
	return append(b, '"')
}

func appendTemporal(b []byte, c *col, v change.Value) []byte {
	t := v.Temporal()
	tm, ok := t.Time(nil)
	if !ok {
		if c.Nullable {
			return append(b, "null"...)
		}
		if c.kind == kZoned {
			return append(b, `"1970-01-01T00:00:00Z"`...)
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
	// ZonedTimestamp: ISO-8601 in UTC with the column's fractional digits.
	b = append(b, '"')
	start := len(b)
	b = t.AppendText(b, change.KindTimestamp, c.Fsp)
	b[start+10] = 'T'
	return append(b, 'Z', '"')
}

// unscaledBytes appends the big-endian two's-complement bytes (minimal length, as Java's
// BigInteger.toByteArray) of the decimal text's unscaled value at the given scale: the
// text's digits with its fraction padded or cut to scale digits.
func unscaledBytes(dst []byte, text []byte, scale int) []byte {
	neg := false
	if len(text) > 0 && (text[0] == '-' || text[0] == '+') {
		neg = text[0] == '-'
		text = text[1:]
	}
	var digits [80]byte
	d := digits[:0]
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
	// Magnitude as big-endian base-256 bytes, by repeated division of the decimal digits.
	var mag [48]byte
	m := mag[:0]
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
