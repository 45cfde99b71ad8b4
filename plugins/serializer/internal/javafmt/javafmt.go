// Package javafmt writes numbers as Java writes them, for the formats whose upstream engine
// is a Java program: Canal's values are String.valueOf(Float|Double), and Kafka Connect's
// JsonConverter (Debezium) writes FLOAT32/FLOAT64 through Jackson, which uses
// Float.toString / Double.toString.
//
// The digits follow the specification of Double.toString and Float.toString since JDK 19
// (JDK-4511638): the shortest decimal that rounds to the value, the closest one when several
// have that length, and, when the shortest has one digit, the closest of those with one or
// two digits (so Double.MIN_VALUE is 4.9E-324, not 5.0E-324). Older JDKs print a longer text
// for some values (2.0E23 as 1.9999999999999998E23); both parse to the same number.
package javafmt

import (
	"math"
	"strconv"
)

// AppendDouble appends f as Java's Double.toString(f) writes it: "1.0", "0.1", "1.0E-7",
// "-2.2250738585072014E-308", "1.23456789E8", "NaN", "Infinity", "-0.0".
func AppendDouble(dst []byte, f float64) []byte { return appendJava(dst, f, 64) }

// AppendFloat appends f as Java's Float.toString(f) writes it: "3.25", "0.1", "1.0E-7",
// "1.4E-45".
func AppendFloat(dst []byte, f float32) []byte { return appendJava(dst, float64(f), 32) }

func appendJava(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	if math.Signbit(f) {
		dst = append(dst, '-')
		f = -f
	}
	if f == 0 {
		return append(dst, "0.0"...)
	}
	var buf [32]byte
	digits, exp := shortest(buf[:0], f, bits)
	// The value is 0.d1d2...dn × 10^(exp+1): d1.d2...dn × 10^exp.
	if exp >= -3 && exp < 7 {
		return appendPlain(dst, digits, exp)
	}
	dst = append(dst, digits[0], '.')
	if len(digits) > 1 {
		dst = append(dst, digits[1:]...)
	} else {
		dst = append(dst, '0')
	}
	dst = append(dst, 'E')
	return strconv.AppendInt(dst, int64(exp), 10)
}

// appendPlain writes d1.d2...dn × 10^exp (-3 <= exp < 7) without an exponent, with at least
// one digit on each side of the point.
func appendPlain(dst, digits []byte, exp int) []byte {
	if exp < 0 {
		dst = append(dst, '0', '.')
		for i := -1; i > exp; i-- {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	intLen := exp + 1
	if len(digits) <= intLen {
		dst = append(dst, digits...)
		for i := len(digits); i < intLen; i++ {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	}
	dst = append(dst, digits[:intLen]...)
	dst = append(dst, '.')
	return append(dst, digits[intLen:]...)
}

// shortest returns the decimal digits (no leading or trailing zeros) and the decimal
// exponent of Java's choice for the positive finite f: Go's shortest round-trip digits
// (closest among the shortest), and when those are a single digit, the correctly rounded
// two-digit decimal if it still rounds to f (it is at least as close as any one-digit one).
func shortest(dst []byte, f float64, bits int) ([]byte, int) {
	s := strconv.AppendFloat(dst, f, 'e', -1, bits)
	digits, exp := splitE(s)
	if len(digits) == 1 {
		var tmp [32]byte
		s2 := strconv.AppendFloat(tmp[:0], f, 'e', 1, bits)
		if back, err := strconv.ParseFloat(string(s2), bits); err == nil && back == f {
			d2, e2 := splitE(s2)
			for len(d2) > 1 && d2[len(d2)-1] == '0' {
				d2 = d2[:len(d2)-1]
			}
			return append(dst[:0], d2...), e2
		}
	}
	return digits, exp
}

// splitE splits Go's 'e' format "d.ddde±XX" into its digits (trailing zeros dropped),
// compacted in place in s, and its exponent.
func splitE(s []byte) ([]byte, int) {
	i := 0
	for i < len(s) && s[i] != 'e' {
		i++
	}
	exp, _ := strconv.Atoi(string(s[i+1:]))
	digits := s[:0]
	for _, c := range s[:i] {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	return digits, exp
}
