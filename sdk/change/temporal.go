package change

import (
	"fmt"
	"strconv"
	"time"
)

// Temporal holds the parts of a DATE, DATETIME, TIMESTAMP or TIME value exactly, including
// MySQL's zero dates ('0000-00-00') that time.Time cannot represent. For TIME, Hour may reach
// 838 and Negative marks negative durations; the date parts are zero.
type Temporal struct {
	Year        uint16
	Month       uint8
	Day         uint8
	Hour        uint16
	Minute      uint8
	Second      uint8
	Microsecond uint32
	Negative    bool
}

// NewDate returns a DATE value.
func NewDate(year, month, day int) (Value, error) {
	t := Temporal{Year: uint16(year), Month: uint8(month), Day: uint8(day)}
	if err := t.checkDate(year, month, day); err != nil {
		return Null, err
	}
	return Value{kind: KindDate, n: packDateTime(t)}, nil
}

// NewDateTime returns a DATETIME (or, with ts true, a TIMESTAMP in UTC) value.
func NewDateTime(t Temporal, ts bool) (Value, error) {
	if err := t.checkDate(int(t.Year), int(t.Month), int(t.Day)); err != nil {
		return Null, err
	}
	if t.Hour > 23 || t.Minute > 59 || t.Second > 59 || t.Microsecond > 999999 || t.Negative {
		return Null, fmt.Errorf("invalid time of day %02d:%02d:%02d.%06d", t.Hour, t.Minute, t.Second, t.Microsecond)
	}
	k := KindDateTime
	if ts {
		k = KindTimestamp
	}
	return Value{kind: k, n: packDateTime(t)}, nil
}

// NewTimestampFromTime returns a TIMESTAMP value for the instant t (microsecond precision).
func NewTimestampFromTime(t time.Time) Value {
	u := t.UTC()
	v, _ := NewDateTime(Temporal{Year: uint16(u.Year()), Month: uint8(u.Month()), Day: uint8(u.Day()),
		Hour: uint16(u.Hour()), Minute: uint8(u.Minute()), Second: uint8(u.Second()),
		Microsecond: uint32(u.Nanosecond() / 1000)}, true)
	return v
}

// NewTime returns a TIME value.
func NewTime(negative bool, hours, minutes, seconds, micros int) (Value, error) {
	if hours < 0 || hours > 838 || minutes < 0 || minutes > 59 || seconds < 0 || seconds > 59 ||
		micros < 0 || micros > 999999 {
		return Null, fmt.Errorf("invalid time %d:%02d:%02d.%06d", hours, minutes, seconds, micros)
	}
	t := Temporal{Hour: uint16(hours), Minute: uint8(minutes), Second: uint8(seconds),
		Microsecond: uint32(micros), Negative: negative && (hours|minutes|seconds|micros) != 0}
	return Value{kind: KindTime, n: packTime(t)}, nil
}

func (t Temporal) checkDate(year, month, day int) error {
	if year < 0 || year > 9999 || month < 0 || month > 12 || day < 0 || day > 31 {
		return fmt.Errorf("invalid date %04d-%02d-%02d", year, month, day)
	}
	return nil
}

// Layout of a packed date/datetime: year 14 bits | month 4 | day 5 | hour 5 | minute 6 |
// second 6 | microsecond 20 = 60 bits.
func packDateTime(t Temporal) uint64 {
	return uint64(t.Year)<<46 | uint64(t.Month)<<42 | uint64(t.Day)<<37 | uint64(t.Hour)<<32 |
		uint64(t.Minute)<<26 | uint64(t.Second)<<20 | uint64(t.Microsecond)
}

func unpackDateTime(n uint64) Temporal {
	return Temporal{Year: uint16(n >> 46 & 0x3fff), Month: uint8(n >> 42 & 0xf), Day: uint8(n >> 37 & 0x1f),
		Hour: uint16(n >> 32 & 0x1f), Minute: uint8(n >> 26 & 0x3f), Second: uint8(n >> 20 & 0x3f),
		Microsecond: uint32(n & 0xfffff)}
}

// Layout of a packed time: negative 1 bit | hour 10 | minute 6 | second 6 | microsecond 20.
func packTime(t Temporal) uint64 {
	var neg uint64
	if t.Negative {
		neg = 1
	}
	return neg<<42 | uint64(t.Hour)<<32 | uint64(t.Minute)<<26 | uint64(t.Second)<<20 | uint64(t.Microsecond)
}

func unpackTime(n uint64) Temporal {
	return Temporal{Negative: n>>42&1 == 1, Hour: uint16(n >> 32 & 0x3ff), Minute: uint8(n >> 26 & 0x3f),
		Second: uint8(n >> 20 & 0x3f), Microsecond: uint32(n & 0xfffff)}
}

// IsZeroDate reports whether the date part is MySQL's zero date or has a zero month or day.
func (t Temporal) IsZeroDate() bool { return t.Year == 0 || t.Month == 0 || t.Day == 0 }

// Time returns the instant in loc (UTC when nil). ok is false for zero dates.
func (t Temporal) Time(loc *time.Location) (tm time.Time, ok bool) {
	if t.Month == 0 || t.Day == 0 {
		return time.Time{}, false
	}
	if loc == nil {
		loc = time.UTC
	}
	return time.Date(int(t.Year), time.Month(t.Month), int(t.Day), int(t.Hour), int(t.Minute),
		int(t.Second), int(t.Microsecond)*1000, loc), true
}

// Duration returns a TIME value as a duration.
func (t Temporal) Duration() time.Duration {
	d := time.Duration(t.Hour)*time.Hour + time.Duration(t.Minute)*time.Minute +
		time.Duration(t.Second)*time.Second + time.Duration(t.Microsecond)*time.Microsecond
	if t.Negative {
		return -d
	}
	return d
}

// AppendText appends the value as MySQL prints it for kind: DATE 'YYYY-MM-DD', DATETIME and
// TIMESTAMP 'YYYY-MM-DD HH:MM:SS[.f]', TIME '[-]HH:MM:SS[.f]'. fsp >= 0 prints exactly fsp
// fractional digits (truncating); fsp < 0 prints the fraction only when non-zero, trimmed.
func (t Temporal) AppendText(dst []byte, kind Kind, fsp int) []byte {
	if kind == KindTime {
		if t.Negative {
			dst = append(dst, '-')
		}
		dst = pad(dst, uint64(t.Hour), 2)
		dst = append(dst, ':')
		dst = pad(dst, uint64(t.Minute), 2)
		dst = append(dst, ':')
		dst = pad(dst, uint64(t.Second), 2)
		return appendFrac(dst, t.Microsecond, fsp)
	}
	dst = pad(dst, uint64(t.Year), 4)
	dst = append(dst, '-')
	dst = pad(dst, uint64(t.Month), 2)
	dst = append(dst, '-')
	dst = pad(dst, uint64(t.Day), 2)
	if kind == KindDate {
		return dst
	}
	dst = append(dst, ' ')
	dst = pad(dst, uint64(t.Hour), 2)
	dst = append(dst, ':')
	dst = pad(dst, uint64(t.Minute), 2)
	dst = append(dst, ':')
	dst = pad(dst, uint64(t.Second), 2)
	return appendFrac(dst, t.Microsecond, fsp)
}

func pad(dst []byte, v uint64, width int) []byte {
	for d := digits(v); d < width; d++ {
		dst = append(dst, '0')
	}
	return strconv.AppendUint(dst, v, 10)
}

func appendFrac(dst []byte, micros uint32, fsp int) []byte {
	if fsp == 0 || (fsp < 0 && micros == 0) {
		return dst
	}
	var buf [6]byte
	m := micros
	for i := 5; i >= 0; i-- {
		buf[i] = byte('0' + m%10)
		m /= 10
	}
	n := fsp
	if fsp < 0 || fsp > 6 {
		n = 6
		if fsp < 0 {
			for n > 0 && buf[n-1] == '0' {
				n--
			}
		}
	}
	dst = append(dst, '.')
	return append(dst, buf[:n]...)
}
