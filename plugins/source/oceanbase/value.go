package oceanbase

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// fromLog converts a value decoded by go-mysql's replication package (DECIMAL as exact
// text; ParseTime on: DATETIME from 1970 on with a month and a day, and TIMESTAMP other than
// zero, as time.Time, which spares go-mysql a fmt.Sprintf and ferry the parse of its text;
// every other temporal value, zero dates included, as text, TIMESTAMP text in UTC) into a
// change.Value for column c.
func fromLog(c *change.Column, k colKind, v any) (change.Value, error) {
	if v == nil {
		return change.Null, nil
	}
	switch k {
	case kInt:
		return logInt(c, v)
	case kUint:
		return logUint(c, v)
	case kFloat32, kFloat64:
		return logFloat(c, k, v)
	case kDecimal:
		switch x := v.(type) {
		case string:
			return change.NewDecimal(x)
		case fmt.Stringer: // decimal.Decimal when UseDecimal is on
			return change.NewDecimal(x.String())
		}
	case kYear:
		switch x := v.(type) {
		case int:
			return change.NewYear(uint16(x)), nil
		case int64:
			return change.NewYear(uint16(x)), nil
		}
	case kBit:
		switch x := v.(type) {
		case int64:
			return change.NewBit(uint64(x)), nil
		case uint64:
			return change.NewBit(x), nil
		}
	case kEnum:
		if x, ok := v.(int64); ok {
			return enumValue(c, uint64(x))
		}
	case kSet:
		if x, ok := v.(int64); ok {
			return setValue(c, uint64(x))
		}
	case kDate, kDateTime, kTimestamp, kTime:
		return logTemporal(c, k, v)
	case kString, kJSON, kBytes, kBinaryFixed:
		return logText(c, k, v)
	}
	return unexpectedLogValue(c, v)
}

// unexpectedLogValue is fromLog's answer to a value whose Go type does not fit column c's kind.
func unexpectedLogValue(c *change.Column, v any) (change.Value, error) {
	return change.Null, fmt.Errorf("column %s (%s): unexpected binlog value %T", c.Name, c.ColumnType, v)
}

// logInt converts a signed integer column's binlog value; go-mysql gives an unsigned Go type
// when the signedness metadata said unsigned while the schema says signed.
func logInt(c *change.Column, v any) (change.Value, error) {
	switch x := v.(type) {
	case int8:
		return change.NewInt(int64(x)), nil
	case int16:
		return change.NewInt(int64(x)), nil
	case int32:
		return change.NewInt(int64(x)), nil
	case int64:
		return change.NewInt(x), nil
	case uint8: // signedness metadata said unsigned while the schema says signed
		return change.NewInt(int64(int8(x))), nil
	case uint16:
		return change.NewInt(int64(int16(x))), nil
	case uint32:
		if c.Type == "MEDIUMINT" {
			return change.NewInt(int64(int32(x<<8) >> 8)), nil
		}
		return change.NewInt(int64(int32(x))), nil
	case uint64:
		return change.NewInt(int64(x)), nil
	}
	return unexpectedLogValue(c, v)
}

// logUint converts an unsigned integer column's binlog value, signed Go types included.
func logUint(c *change.Column, v any) (change.Value, error) {
	switch x := v.(type) {
	case int8:
		return change.NewUint(uint64(uint8(x))), nil
	case int16:
		return change.NewUint(uint64(uint16(x))), nil
	case int32:
		if c.Type == "MEDIUMINT" {
			return change.NewUint(uint64(uint32(x) & 0xffffff)), nil
		}
		return change.NewUint(uint64(uint32(x))), nil
	case int64:
		return change.NewUint(uint64(x)), nil
	case uint8:
		return change.NewUint(uint64(x)), nil
	case uint16:
		return change.NewUint(uint64(x)), nil
	case uint32:
		return change.NewUint(uint64(x)), nil
	case uint64:
		return change.NewUint(x), nil
	}
	return unexpectedLogValue(c, v)
}

// logFloat converts a FLOAT (k is kFloat32) or DOUBLE (kFloat64) column's binlog value.
func logFloat(c *change.Column, k colKind, v any) (change.Value, error) {
	switch x := v.(type) {
	case float32:
		if k == kFloat32 {
			return change.NewFloat32(x), nil
		}
		return change.NewFloat64(float64(x)), nil
	case float64:
		if k == kFloat32 { // the Binlog Service logs FLOAT(p > 24), e.g. FLOAT(30,10), as DOUBLE
			return floatValue(x), nil
		}
		return change.NewFloat64(x), nil
	}
	return unexpectedLogValue(c, v)
}

// logTemporal converts a DATE, DATETIME, TIMESTAMP or TIME column's binlog value: text, or a
// time.Time for DATETIME and TIMESTAMP.
func logTemporal(c *change.Column, k colKind, v any) (change.Value, error) {
	switch x := v.(type) {
	case string:
		return temporalFromText(k, x)
	case time.Time:
		if k == kDateTime || k == kTimestamp {
			return temporalFromTime(k, x)
		}
	}
	return unexpectedLogValue(c, v)
}

// logText converts a character (kString), JSON, or binary (kBytes, kBinaryFixed) column's
// binlog value, which go-mysql gives as a string or a []byte. A BINARY(n) value shorter than
// n is padded back to n with zero bytes.
func logText(c *change.Column, k colKind, v any) (change.Value, error) {
	var b []byte
	switch x := v.(type) {
	case string:
		switch k {
		case kString:
			return logString(c, []byte(x))
		case kJSON:
			return change.NewJSON(x), nil
		}
		b = []byte(x)
	case []byte:
		switch k {
		case kString:
			return logString(c, x)
		case kJSON:
			if len(x) == 0 {
				return change.NewJSON("null"), nil
			}
			return change.NewJSON(string(x)), nil
		}
		b = x
	default:
		return unexpectedLogValue(c, v)
	}
	if k == kBinaryFixed && int64(len(b)) < c.Length {
		b = append(b[:len(b):len(b)], make([]byte, int(c.Length)-len(b))...)
	}
	return change.NewBytes(b), nil
}

// fromText converts a text-protocol value (what SELECT returns; nil for NULL) into a
// change.Value for column c. FLOAT columns are selected as DOUBLE (see selectList) so they
// arrive exactly.
func fromText(c *change.Column, k colKind, b []byte) (change.Value, error) {
	if b == nil {
		return change.Null, nil
	}
	s := string(b)
	switch k {
	case kInt:
		n, err := strconv.ParseInt(s, 10, 64)
		return change.NewInt(n), wrapText(c, s, err)
	case kUint:
		n, err := strconv.ParseUint(s, 10, 64)
		return change.NewUint(n), wrapText(c, s, err)
	case kFloat32:
		f, err := strconv.ParseFloat(s, 64)
		return floatValue(f), wrapText(c, s, err)
	case kFloat64:
		f, err := strconv.ParseFloat(s, 64)
		return change.NewFloat64(f), wrapText(c, s, err)
	case kDecimal:
		v, err := change.NewDecimal(s)
		return v, wrapText(c, s, err)
	case kYear:
		n, err := strconv.ParseUint(s, 10, 16)
		return change.NewYear(uint16(n)), wrapText(c, s, err)
	case kBit:
		if len(b) > 8 {
			return change.Null, wrapText(c, s, fmt.Errorf("%d bytes", len(b)))
		}
		var n uint64
		for _, x := range b {
			n = n<<8 | uint64(x)
		}
		return change.NewBit(n), nil
	case kEnum:
		if s == "" {
			return change.NewEnum("", 0), nil
		}
		for i, e := range c.Elems {
			if e == s {
				return change.NewEnum(s, uint64(i+1)), nil
			}
		}
		for i, e := range c.Elems {
			if strings.EqualFold(e, s) {
				return change.NewEnum(e, uint64(i+1)), nil
			}
		}
		return change.Null, wrapText(c, s, fmt.Errorf("not a member"))
	case kSet:
		var mask uint64
		if s != "" {
			for _, m := range strings.Split(s, ",") {
				found := false
				for i, e := range c.Elems {
					if strings.EqualFold(e, m) {
						mask |= 1 << uint(i)
						found = true
						break
					}
				}
				if !found {
					return change.Null, wrapText(c, s, fmt.Errorf("%q is not a member", m))
				}
			}
		}
		return setValue(c, mask)
	case kDate, kDateTime, kTimestamp, kTime:
		v, err := temporalFromText(k, s)
		return v, wrapText(c, s, err)
	case kString:
		return change.NewString(s), nil
	case kJSON:
		return change.NewJSON(s), nil
	}
	return change.NewBytes(b), nil
}

// floatValue is the value of a FLOAT column read as a double: the SQL read (`col + 0e0`) and,
// for FLOAT(p > 24) on the OceanBase Binlog Service, the binlog's DOUBLE. A single-precision
// value (every MySQL and MariaDB FLOAT) is a float32, exactly; a double that no float32
// holds stays a float64, so nothing is rounded and both reads give the same value.
func floatValue(f float64) change.Value {
	if g := float32(f); float64(g) == f || math.IsNaN(f) {
		return change.NewFloat32(g)
	}
	return change.NewFloat64(f)
}

func wrapText(c *change.Column, s string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("column %s (%s): cannot read %q: %w", c.Name, c.ColumnType, s, err)
}

func enumValue(c *change.Column, idx uint64) (change.Value, error) {
	if idx == 0 {
		return change.NewEnum("", 0), nil
	}
	if idx > uint64(len(c.Elems)) {
		return change.Null, fmt.Errorf("column %s: enum index %d beyond %d members (schema out of step?)", c.Name, idx, len(c.Elems))
	}
	return change.NewEnum(c.Elems[idx-1], idx), nil
}

func setValue(c *change.Column, mask uint64) (change.Value, error) {
	if bits.Len64(mask) > len(c.Elems) {
		return change.Null, fmt.Errorf("column %s: set mask %#x beyond %d members (schema out of step?)", c.Name, mask, len(c.Elems))
	}
	var b strings.Builder
	for i := range c.Elems {
		if mask&(1<<uint(i)) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(c.Elems[i])
		}
	}
	return change.NewSet(b.String(), mask), nil
}

// temporalFromText parses "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS[.ffffff]" or
// "[-]HHH:MM:SS[.ffffff]".
func temporalFromText(k colKind, s string) (change.Value, error) {
	if k == kTime {
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		h, m, sec, us, err := clock(s)
		if err != nil {
			return change.Null, err
		}
		return change.NewTime(neg, h, m, sec, us)
	}
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return change.Null, fmt.Errorf("bad date %q", s)
	}
	y, e1 := strconv.Atoi(s[0:4])
	mo, e2 := strconv.Atoi(s[5:7])
	d, e3 := strconv.Atoi(s[8:10])
	if e1 != nil || e2 != nil || e3 != nil {
		return change.Null, fmt.Errorf("bad date %q", s)
	}
	if k == kDate {
		return change.NewDate(y, mo, d)
	}
	t := change.Temporal{Year: uint16(y), Month: uint8(mo), Day: uint8(d)}
	if len(s) > 10 {
		h, m, sec, us, err := clock(s[11:])
		if err != nil {
			return change.Null, err
		}
		t.Hour, t.Minute, t.Second, t.Microsecond = uint16(h), uint8(m), uint8(sec), uint32(us)
	}
	return change.NewDateTime(t, k == kTimestamp)
}

// temporalFromTime is the DATETIME or TIMESTAMP value of t: its wall clock for a DATETIME
// (go-mysql makes it in UTC), its instant in UTC for a TIMESTAMP.
func temporalFromTime(k colKind, t time.Time) (change.Value, error) {
	if k == kTimestamp {
		t = t.UTC()
	}
	y, mo, d := t.Date()
	h, m, sec := t.Clock()
	return change.NewDateTime(change.Temporal{Year: uint16(y), Month: uint8(mo), Day: uint8(d),
		Hour: uint16(h), Minute: uint8(m), Second: uint8(sec), Microsecond: uint32(t.Nanosecond() / 1000)}, k == kTimestamp)
}

func clock(s string) (h, m, sec, us int, err error) {
	frac := ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s, frac = s[:i], s[i+1:]
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, 0, 0, 0, fmt.Errorf("bad time %q", s)
	}
	if h, err = strconv.Atoi(parts[0]); err == nil {
		if m, err = strconv.Atoi(parts[1]); err == nil {
			sec, err = strconv.Atoi(parts[2])
		}
	}
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("bad time %q", s)
	}
	if frac != "" {
		if len(frac) > 6 {
			frac = frac[:6]
		}
		f, ferr := strconv.Atoi(frac)
		if ferr != nil {
			return 0, 0, 0, 0, fmt.Errorf("bad fraction %q", frac)
		}
		us = f * int(math.Pow10(6-len(frac)))
	}
	return h, m, sec, us, nil
}
