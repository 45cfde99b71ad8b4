package change

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// Kind is the type of a Value.
type Kind uint8

const (
	// KindNull is SQL NULL (the zero Value).
	KindNull Kind = iota
	// KindInt is a signed integer (TINYINT..BIGINT).
	KindInt
	// KindUint is an unsigned integer (TINYINT UNSIGNED..BIGINT UNSIGNED).
	KindUint
	// KindFloat32 is a FLOAT.
	KindFloat32
	// KindFloat64 is a DOUBLE.
	KindFloat64
	// KindDecimal is a DECIMAL kept as its exact text ("-12.3400").
	KindDecimal
	// KindString is character data (CHAR, VARCHAR, TEXT family) as UTF-8 text.
	KindString
	// KindBytes is binary data (BINARY, VARBINARY, BLOB family, GEOMETRY as WKB).
	KindBytes
	// KindDate is a DATE.
	KindDate
	// KindDateTime is a DATETIME (wall clock, no zone).
	KindDateTime
	// KindTimestamp is a TIMESTAMP, held as UTC wall clock.
	KindTimestamp
	// KindTime is a TIME (a signed duration up to 838:59:59.999999).
	KindTime
	// KindYear is a YEAR.
	KindYear
	// KindJSON is a JSON document as its text.
	KindJSON
	// KindBit is a BIT(n) value, right-aligned in a uint64.
	KindBit
	// KindEnum is an ENUM value: its text and its 1-based index (0 for the empty error value).
	KindEnum
	// KindSet is a SET value: its comma-joined text and its member bit mask.
	KindSet
)

var kindNames = [...]string{"null", "int", "uint", "float32", "float64", "decimal", "string", "bytes",
	"date", "datetime", "timestamp", "time", "year", "json", "bit", "enum", "set"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Value is one column value. The zero Value is NULL. Values are small (32 bytes), immutable
// and safe to share; construct them with the New* functions.
type Value struct {
	kind Kind
	n    uint64 // Int, Uint, Float bits, Bit, Enum index, Set mask, packed temporal, Year
	s    string // Decimal, String, Bytes, JSON, Enum and Set text
}

// Null is the NULL value.
var Null = Value{}

// NewInt returns a signed integer value.
func NewInt(v int64) Value { return Value{kind: KindInt, n: uint64(v)} }

// NewUint returns an unsigned integer value.
func NewUint(v uint64) Value { return Value{kind: KindUint, n: v} }

// NewFloat32 returns a FLOAT value.
func NewFloat32(v float32) Value {
	return Value{kind: KindFloat32, n: uint64(math.Float32bits(v))}
}

// NewFloat64 returns a DOUBLE value.
func NewFloat64(v float64) Value { return Value{kind: KindFloat64, n: math.Float64bits(v)} }

// NewDecimal returns a DECIMAL value from its exact text. The text is validated and kept
// as given (trailing zeros of the scale are significant).
func NewDecimal(text string) (Value, error) {
	if !validDecimal(text) {
		return Null, fmt.Errorf("invalid decimal %q", text)
	}
	return Value{kind: KindDecimal, s: text}, nil
}

// MustDecimal is NewDecimal for constants; it panics on invalid text.
func MustDecimal(text string) Value {
	v, err := NewDecimal(text)
	if err != nil {
		panic(err)
	}
	return v
}

func validDecimal(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// NewString returns a character-data value.
func NewString(v string) Value { return Value{kind: KindString, s: v} }

// NewBytes returns a binary value. The bytes are copied.
func NewBytes(v []byte) Value { return Value{kind: KindBytes, s: string(v)} }

// NewJSON returns a JSON value from its text.
func NewJSON(text string) Value { return Value{kind: KindJSON, s: text} }

// NewBit returns a BIT value.
func NewBit(v uint64) Value { return Value{kind: KindBit, n: v} }

// NewEnum returns an ENUM value with its text and 1-based index.
func NewEnum(text string, index uint64) Value { return Value{kind: KindEnum, n: index, s: text} }

// NewSet returns a SET value with its comma-joined text and member mask.
func NewSet(text string, mask uint64) Value { return Value{kind: KindSet, n: mask, s: text} }

// NewYear returns a YEAR value (0 for the zero year).
func NewYear(y uint16) Value { return Value{kind: KindYear, n: uint64(y)} }

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether the value is NULL.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Int returns the value of a KindInt.
func (v Value) Int() int64 { return int64(v.n) }

// Uint returns the value of a KindUint, KindBit, KindYear, the index of a KindEnum or the
// mask of a KindSet.
func (v Value) Uint() uint64 { return v.n }

// Float returns the value of a KindFloat32 or KindFloat64 as a float64.
func (v Value) Float() float64 {
	if v.kind == KindFloat32 {
		return float64(math.Float32frombits(uint32(v.n)))
	}
	return math.Float64frombits(v.n)
}

// Float32 returns the value of a KindFloat32.
func (v Value) Float32() float32 { return math.Float32frombits(uint32(v.n)) }

// Str returns the text of a KindDecimal, KindString, KindJSON, KindEnum or KindSet, and the
// raw bytes of a KindBytes as a string (no copy).
func (v Value) Str() string { return v.s }

// Bytes returns a copy of the bytes of a KindBytes (or the text of a text kind).
func (v Value) Bytes() []byte { return []byte(v.s) }

// Temporal returns the parts of a KindDate, KindDateTime, KindTimestamp or KindTime.
func (v Value) Temporal() Temporal {
	if v.kind == KindTime {
		return unpackTime(v.n)
	}
	return unpackDateTime(v.n)
}

// Equal reports whether two values are identical in kind and content. Floats compare by bits.
func (v Value) Equal(o Value) bool { return v == o }

// AppendText appends the value's canonical text: integers in decimal, floats in the shortest
// form that round-trips, DECIMAL as given, temporal values as MySQL prints them (with exactly
// fsp fractional digits, where fsp < 0 means "as many as needed, up to 6"), BIT as its
// unsigned integer, ENUM and SET as their text, bytes raw. NULL appends nothing.
func (v Value) AppendText(dst []byte, fsp int) []byte {
	switch v.kind {
	case KindInt:
		return strconv.AppendInt(dst, int64(v.n), 10)
	case KindUint, KindBit:
		return strconv.AppendUint(dst, v.n, 10)
	case KindYear:
		y := v.n
		if y < 1000 {
			dst = append(dst, "000"[:4-digits(y)]...)
		}
		return strconv.AppendUint(dst, y, 10)
	case KindFloat32:
		return strconv.AppendFloat(dst, float64(math.Float32frombits(uint32(v.n))), 'g', -1, 32)
	case KindFloat64:
		return strconv.AppendFloat(dst, math.Float64frombits(v.n), 'g', -1, 64)
	case KindDate, KindDateTime, KindTimestamp, KindTime:
		return v.Temporal().AppendText(dst, v.kind, fsp)
	default:
		return append(dst, v.s...)
	}
}

func digits(u uint64) int {
	n := 1
	for u >= 10 {
		u /= 10
		n++
	}
	return n
}

// String is for logs and tests: kind and text, bytes in hex.
func (v Value) String() string {
	switch v.kind {
	case KindNull:
		return "NULL"
	case KindBytes:
		return fmt.Sprintf("bytes(%x)", v.s)
	default:
		var b bytes.Buffer
		b.WriteString(v.kind.String())
		b.WriteByte('(')
		b.Write(v.AppendText(nil, -1))
		b.WriteByte(')')
		return b.String()
	}
}

// Raw returns the value's internal representation for lossless transport (the plugin
// protocol). Use FromRaw to rebuild it.
func (v Value) Raw() (kind Kind, n uint64, s string) { return v.kind, v.n, v.s }

// FromRaw rebuilds a Value from Raw's output. It does not validate.
func FromRaw(kind Kind, n uint64, s string) Value { return Value{kind: kind, n: n, s: s} }
