package where

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// vk is the evaluation type of a value, after MySQL's result types.
type vk uint8

const (
	vNull  vk = iota
	vInt      // signed BIGINT
	vUint     // BIGINT UNSIGNED
	vDec      // DECIMAL
	vFloat    // DOUBLE
	vStr      // string (bin says binary collation, else case-insensitive)
	vTemp     // DATE, DATETIME, TIMESTAMP (key is ordered); TIME (key is signed microseconds)
)

// val is a value during evaluation.
type val struct {
	k   vk
	i   int64
	u   uint64
	f   float64
	d   dec
	s   string
	bin bool
	// lit marks a constant (literal or folded) value: MariaDB converts a constant string
	// compared with a DECIMAL to a decimal, a column's string to a double.
	lit bool
	// num, for strings that also have a number (ENUM index, SET mask), is that number: MySQL
	// uses it in numeric contexts.
	num *val
	// tk is the change kind of a temporal value; key orders it (packed parts, or the signed
	// number of microseconds of a TIME).
	tk  change.Kind
	key int64
}

var null = val{}

func intVal(i int64) val { return val{k: vInt, i: i} }

func boolVal(b bool) val {
	if b {
		return intVal(1)
	}
	return intVal(0)
}

// fromChange converts a column value. bin says the column's collation is binary.
func fromChange(v change.Value, bin bool) val {
	switch v.Kind() {
	case change.KindNull:
		return null
	case change.KindInt:
		return intVal(v.Int())
	case change.KindUint, change.KindBit:
		return val{k: vUint, u: v.Uint()}
	case change.KindYear:
		return intVal(int64(v.Uint()))
	case change.KindFloat32, change.KindFloat64:
		return val{k: vFloat, f: v.Float()}
	case change.KindDecimal:
		d, ok := parseDec(v.Str())
		if !ok {
			return null
		}
		return val{k: vDec, d: d}
	case change.KindString, change.KindJSON:
		return val{k: vStr, s: v.Str(), bin: bin}
	case change.KindBytes:
		return val{k: vStr, s: v.Str(), bin: true}
	case change.KindEnum, change.KindSet:
		n := val{k: vUint, u: v.Uint()}
		return val{k: vStr, s: v.Str(), bin: bin, num: &n}
	case change.KindDate, change.KindDateTime, change.KindTimestamp:
		_, n, _ := v.Raw()
		return val{k: vTemp, tk: v.Kind(), key: int64(n), s: string(v.AppendText(nil, -1))}
	case change.KindTime:
		d := v.Temporal().Duration()
		return val{k: vTemp, tk: change.KindTime, key: int64(d / 1000), s: string(v.AppendText(nil, -1))}
	}
	return null
}

// number returns the value in a numeric context: strings become doubles (or their ENUM/SET
// number), temporal values their YYYYMMDD[hhmmss[.ffffff]] number.
func (v val) number() val {
	switch v.k {
	case vStr:
		if v.num != nil {
			return *v.num
		}
		return val{k: vFloat, f: strToFloat(v.s)}
	case vTemp:
		return temporalNumber(v)
	}
	return v
}

func temporalNumber(v val) val {
	if v.tk == change.KindTime {
		us := v.key
		neg := us < 0
		if neg {
			us = -us
		}
		n := us / 1e6 / 3600 * 10000
		n += us / 1e6 / 60 % 60 * 100
		n += us / 1e6 % 60
		frac := us % 1e6
		if neg {
			n, frac = -n, -frac
		}
		if frac == 0 {
			return intVal(n)
		}
		d := dec{v: big.NewInt(n*1e6 + frac), scale: 6, decl: 6}
		return val{k: vDec, d: d}
	}
	t := change.FromRaw(v.tk, uint64(v.key), "").Temporal()
	n := int64(t.Year)*10000 + int64(t.Month)*100 + int64(t.Day)
	if v.tk == change.KindDate {
		return intVal(n)
	}
	n = n*1000000 + int64(t.Hour)*10000 + int64(t.Minute)*100 + int64(t.Second)
	if t.Microsecond == 0 {
		return intVal(n)
	}
	return val{k: vDec, d: dec{v: big.NewInt(n*1e6 + int64(t.Microsecond)), scale: 6, decl: 6}}
}

// toFloat converts a non-NULL value to a double.
func (v val) toFloat() float64 {
	v = v.number()
	switch v.k {
	case vInt:
		return float64(v.i)
	case vUint:
		return float64(v.u)
	case vDec:
		return v.d.float()
	case vFloat:
		return v.f
	}
	return 0
}

// toDec converts a non-NULL value to a decimal; strings convert exactly from their prefix.
func (v val) toDec() dec {
	if v.k == vStr && v.num == nil {
		return strToDec(v.s)
	}
	v = v.number()
	switch v.k {
	case vInt:
		return decFromInt(v.i)
	case vUint:
		return decFromUint(v.u)
	case vDec:
		return v.d
	case vFloat:
		return floatToDec(v.f)
	}
	return decFromInt(0)
}

// truth reports whether a non-NULL value is TRUE in a boolean context.
func (v val) truth() bool {
	n := v.number()
	switch n.k {
	case vInt:
		return n.i != 0
	case vUint:
		return n.u != 0
	case vDec:
		return !n.d.isZero()
	case vFloat:
		return n.f != 0
	}
	return false
}

// text returns the value as a string (CONCAT, LIKE, SUBSTR).
func (v val) text() string {
	switch v.k {
	case vInt:
		return strconv.FormatInt(v.i, 10)
	case vUint:
		return strconv.FormatUint(v.u, 10)
	case vDec:
		return v.d.text()
	case vFloat:
		return floatText(v.f)
	}
	return v.s
}

// floatText prints a double as MariaDB does: the shortest digits that round-trip, in plain
// notation unless the exponent is below -15 or above 15 (1.5e-16, 1.5e16); at exponent 15
// plain only when digits go past the decimal point (1363636363636363.8, but 1e15 and
// 1.234567890123456e15; checked against MariaDB 10.11's CONCAT of doubles).
func floatText(f float64) string {
	if f == 0 {
		return "0"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expS, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expS)
	digits := len(strings.TrimLeft(strings.Replace(mant, ".", "", 1), "-"))
	if exp < -15 || exp > 15 || exp == 15 && digits <= 16 {
		return mant + "e" + strconv.Itoa(exp)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// ct is a comparison type.
type ct uint8

const (
	cInt ct = iota
	cDec
	cFloat
	cStr
	cTemp
)

// numClass returns the comparison class of a value in a numeric context.
func numClass(v val) ct {
	switch v.number().k {
	case vInt, vUint:
		return cInt
	case vDec:
		return cDec
	}
	return cFloat
}

// cmpType returns how a and b (both non-NULL) are compared, after MariaDB's rules: two
// strings as strings (in the collation), a DATE/DATETIME with anything as datetimes, a
// string with a DECIMAL as decimals, with another number as doubles, numbers by their
// aggregated type (integers exactly, signed against unsigned too).
func cmpType(a, b val) ct {
	if a.k == vTemp && b.k == vTemp && (a.tk == change.KindTime) != (b.tk == change.KindTime) {
		return cFloat
	}
	if a.k == vTemp && a.tk == change.KindTime || b.k == vTemp && b.tk == change.KindTime {
		if a.k == vTemp && b.k == vTemp {
			return cTemp
		}
		if (a.k == vStr || b.k == vStr) && a.num == nil && b.num == nil {
			return cTemp
		}
		return cFloat
	}
	x, y := ctOf(a), ctOf(b)
	if x == cStr && y == cDec && !a.lit || y == cStr && x == cDec && !b.lit {
		return cFloat
	}
	return aggCT(x, y)
}

func aggNum(x, y ct) ct {
	if x == cFloat || y == cFloat {
		return cFloat
	}
	if x == cDec || y == cDec {
		return cDec
	}
	return cInt
}

// compare compares non-NULL a and b as type t. round says decimals compare at their
// declared scale (the comparison operators) rather than their full precision (BETWEEN, IN).
func compare(a, b val, t ct, round bool) int {
	switch t {
	case cInt:
		x, y := a.number(), b.number()
		if isInt(x) && isInt(y) {
			return cmpInts(x, y)
		}
		// A constant the static type took for an integer folded to a DECIMAL (such as
		// -18446744073709551615): compare exactly as decimals.
		return a.toDec().cmp(b.toDec())
	case cDec:
		x, y := a.toDec(), b.toDec()
		// Numbers compare at the decimal's declared scale. A string against a decimal
		// compares with its full precision, except a constant string against an
		// expression over columns, which compares at the declared scale (MariaDB 10.11:
		// '0.00005' = 1/20000 and s = 1/c are true, '0.00005' = 1/c false, '0.0001' = 1/c
		// true, with s = '0.00005' and c = 20000 in the row).
		if round && (a.k != vStr && b.k != vStr || a.k == vStr && a.lit && !b.lit || b.k == vStr && b.lit && !a.lit) {
			x, y = x.rounded(), y.rounded()
		}
		return x.cmp(y)
	case cStr:
		return cmpStr(a.text(), b.text(), a.bin || b.bin)
	case cTemp:
		if a.k == vTemp && a.tk == change.KindTime || b.k == vTemp && b.tk == change.KindTime {
			x, y := a, b
			if x.k != vTemp {
				x, _ = parseTemporal(x.s, change.KindTime)
			}
			if y.k != vTemp {
				y, _ = parseTemporal(y.s, change.KindTime)
			}
			return cmp3(x.key, y.key)
		}
		return cmp3(toDateKey(a), toDateKey(b))
	}
	x, y := a.toFloat(), b.toFloat()
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func cmp3(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isInt(v val) bool { return v.k == vInt || v.k == vUint }

func cmpInts(a, b val) int {
	switch {
	case a.k == vInt && b.k == vInt:
		return cmp3(a.i, b.i)
	case a.k == vUint && b.k == vUint:
		switch {
		case a.u < b.u:
			return -1
		case a.u > b.u:
			return 1
		}
		return 0
	case a.k == vInt: // b unsigned
		if a.i < 0 || b.u > math.MaxInt64 {
			return -1
		}
		return cmp3(a.i, int64(b.u))
	default: // a unsigned, b signed
		return -cmpInts(b, a)
	}
}

// cmpStr compares strings: bytewise for binary collations, else case-insensitively with
// trailing spaces ignored (utf8mb4_general_ci, PAD SPACE).
func cmpStr(a, b string, bin bool) int {
	if bin {
		return strings.Compare(a, b)
	}
	a = strings.TrimRight(a, " ")
	b = strings.TrimRight(b, " ")
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		fa, fb := fold(ra), fold(rb)
		if fa != fb {
			if fa < fb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

func fold(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - 32
		}
		return r
	}
	return unicode.ToUpper(r)
}

// parseTemporal reads a string as a value of the temporal kind k ('YYYY-MM-DD',
// 'YYYY-MM-DD hh:mm:ss[.ffffff]' for dates and datetimes, '[-]hh:mm:ss[.ffffff]' for TIME).
func parseTemporal(s string, k change.Kind) (val, bool) {
	s = strings.TrimSpace(s)
	if k == change.KindTime {
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		h, m, sec, us, ok := parseClock(s)
		if !ok {
			return null, false
		}
		t, err := change.NewTime(neg, h, m, sec, us)
		if err != nil {
			return null, false
		}
		return fromChange(t, false), true
	}
	datePart, clock, hasClock := strings.Cut(s, " ")
	ds := strings.Split(datePart, "-")
	if len(ds) != 3 {
		return null, false
	}
	var nums [3]int
	for i, p := range ds {
		n, err := strconv.Atoi(p)
		if err != nil || p == "" {
			return null, false
		}
		nums[i] = n
	}
	t := change.Temporal{Year: uint16(nums[0]), Month: uint8(nums[1]), Day: uint8(nums[2])}
	if nums[0] > 9999 || nums[1] > 12 || nums[2] > 31 || nums[0] < 0 || nums[1] < 0 || nums[2] < 0 {
		return null, false
	}
	if hasClock {
		h, m, sec, us, ok := parseClock(strings.TrimSpace(clock))
		if !ok || h > 23 {
			return null, false
		}
		t.Hour, t.Minute, t.Second, t.Microsecond = uint16(h), uint8(m), uint8(sec), uint32(us)
	}
	v, err := change.NewDateTime(t, false)
	if err != nil {
		return null, false
	}
	return fromChange(v, false), true
}

func parseClock(s string) (h, m, sec, us int, ok bool) {
	main, frac, hasFrac := strings.Cut(s, ".")
	ps := strings.Split(main, ":")
	if len(ps) != 3 {
		return 0, 0, 0, 0, false
	}
	var n [3]int
	for i, p := range ps {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return 0, 0, 0, 0, false
		}
		n[i] = x
	}
	if n[1] > 59 || n[2] > 59 {
		return 0, 0, 0, 0, false
	}
	if hasFrac {
		if frac == "" || len(frac) > 6 {
			return 0, 0, 0, 0, false
		}
		x, err := strconv.Atoi(frac)
		if err != nil {
			return 0, 0, 0, 0, false
		}
		for i := len(frac); i < 6; i++ {
			x *= 10
		}
		us = x
	}
	return n[0], n[1], n[2], us, true
}
