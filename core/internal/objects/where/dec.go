package where

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// dec is an exact decimal: unscaled × 10^-scale. decl is the scale MySQL declares for the
// value (what it prints and what the comparison operators round to); scale may be larger
// for the results of division, which MariaDB computes with extra digits (see docs).
type dec struct {
	v     *big.Int
	scale int
	decl  int
	// negz marks MariaDB's negative zero (-0.00), which MOD of a negative dividend gives
	// and which compares below zero.
	negz bool
}

var (
	bigTen   = big.NewInt(10)
	pow10Tab = func() []*big.Int {
		t := make([]*big.Int, 80)
		t[0] = big.NewInt(1)
		for i := 1; i < len(t); i++ {
			t[i] = new(big.Int).Mul(t[i-1], bigTen)
		}
		return t
	}()
)

func pow10(n int) *big.Int {
	if n < len(pow10Tab) {
		return pow10Tab[n]
	}
	return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil)
}

func decFromInt(i int64) dec   { return dec{v: big.NewInt(i)} }
func decFromUint(u uint64) dec { return dec{v: new(big.Int).SetUint64(u)} }

// parseDec parses exact decimal text ("-12.340"); ok is false when it is not one.
func parseDec(s string) (dec, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	if digits == "" {
		return dec{}, false
	}
	v, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return dec{}, false
	}
	if neg {
		v.Neg(v)
	}
	return dec{v: v, scale: len(frac), decl: len(frac)}, true
}

// numPrefix returns the longest prefix of s (after leading spaces) that MySQL reads as a
// number: [sign] digits [. digits] [e [sign] digits].
func numPrefix(s string) string {
	s = strings.TrimLeft(s, " \t\n\r\f\v")
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	d := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		d++
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
			d++
		}
		i = j
	}
	if d == 0 {
		return ""
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	return s[:i]
}

// strToFloat converts a string to a double as MySQL does: its numeric prefix, else 0.
func strToFloat(s string) float64 {
	p := numPrefix(s)
	if p == "" {
		return 0
	}
	f, err := strconv.ParseFloat(p, 64)
	if err != nil { // out of range: ParseFloat returns ±Inf
		if math.IsInf(f, 0) {
			return math.Copysign(math.MaxFloat64, f)
		}
		return 0
	}
	return f
}

// strToDec converts a string to a decimal from its numeric prefix (0 when none).
func strToDec(s string) dec {
	p := numPrefix(s)
	if p == "" {
		return decFromInt(0)
	}
	mant, exp := p, 0
	if i := strings.IndexAny(p, "eE"); i >= 0 {
		mant = p[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(p[i+1:], "+"))
		switch {
		case err != nil || e > 400:
			e = 400 // far beyond any DECIMAL: compares as huge
		case e < -400:
			return decFromInt(0)
		}
		exp = e
	}
	mant = strings.TrimSuffix(mant, ".")
	if strings.HasPrefix(mant, ".") || strings.HasPrefix(mant, "-.") || strings.HasPrefix(mant, "+.") {
		mant = strings.Replace(mant, ".", "0.", 1)
	}
	d, ok := parseDec(mant)
	if !ok {
		return decFromInt(0)
	}
	if exp > 0 {
		if exp <= d.scale {
			d.scale -= exp
		} else {
			d.v = new(big.Int).Mul(d.v, pow10(exp-d.scale))
			d.scale = 0
		}
	} else if exp < 0 {
		d.scale -= exp
	}
	d.decl = d.scale
	return d
}

// floatToDec converts a double to a decimal via its shortest text.
func floatToDec(f float64) dec {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return decFromInt(0)
	}
	return strToDec(strconv.FormatFloat(f, 'e', -1, 64))
}

func (d dec) float() float64 {
	f, _ := new(big.Rat).SetFrac(d.v, pow10(d.scale)).Float64()
	return f
}

func (d dec) isZero() bool { return d.v.Sign() == 0 }

// rescale returns d.v at scale s >= d.scale.
func (d dec) at(s int) *big.Int {
	if s == d.scale {
		return d.v
	}
	return new(big.Int).Mul(d.v, pow10(s-d.scale))
}

// rounded returns d rounded half away from zero to its declared scale.
func (d dec) rounded() dec {
	if d.scale <= d.decl {
		return d
	}
	return dec{v: roundDiv(d.v, pow10(d.scale-d.decl)), scale: d.decl, decl: d.decl, negz: d.negz}
}

// roundDiv divides rounding half away from zero.
func roundDiv(a, b *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(a, b, new(big.Int))
	r2 := new(big.Int).Abs(r)
	r2.Lsh(r2, 1)
	if r2.Cmp(new(big.Int).Abs(b)) >= 0 {
		if a.Sign()*b.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

func (d dec) cmp(o dec) int {
	// MariaDB's decimal_cmp: different signs decide, even for -0.
	if sd, so := d.v.Sign() < 0 || d.negz, o.v.Sign() < 0 || o.negz; sd != so {
		if sd {
			return -1
		}
		return 1
	}
	s := max(d.scale, o.scale)
	return d.at(s).Cmp(o.at(s))
}

func decAdd(a, b dec, sub bool) dec {
	s := max(a.scale, b.scale)
	r := new(big.Int)
	if sub {
		r.Sub(a.at(s), b.at(s))
	} else {
		r.Add(a.at(s), b.at(s))
	}
	return dec{v: r, scale: s, decl: max(a.decl, b.decl)}
}

func decMul(a, b dec) dec {
	return dec{v: new(big.Int).Mul(a.v, b.v), scale: a.scale + b.scale, decl: min(a.decl+b.decl, 38)}
}

// decDiv divides as MariaDB does: the declared scale is a's plus div_precision_increment
// (4), the value is computed to a whole number of 9-digit words beyond both scales and
// truncated. ok is false for division by zero.
func decDiv(a, b dec) (dec, bool) {
	if b.isZero() {
		return dec{}, false
	}
	s := a.scale + b.scale + 4
	s = (s + 8) / 9 * 9
	// a/b at scale s: a.v * 10^(s - a.scale + b.scale) / b.v
	num := new(big.Int).Mul(a.v, pow10(s-a.scale+b.scale))
	q := new(big.Int).Quo(num, b.v)
	return dec{v: q, scale: s, decl: min(a.decl+4, 38)}, true
}

// decTrunc returns a/b truncated toward zero as an integer.
func decIntDiv(a, b dec) (*big.Int, bool) {
	if b.isZero() {
		return nil, false
	}
	s := max(a.scale, b.scale)
	return new(big.Int).Quo(a.at(s), b.at(s)), true
}

func decMod(a, b dec) (dec, bool) {
	if b.isZero() {
		return dec{}, false
	}
	s := max(a.scale, b.scale)
	r := dec{v: new(big.Int).Rem(a.at(s), b.at(s)), scale: s, decl: max(a.decl, b.decl)}
	r.negz = r.v.Sign() == 0 && (a.v.Sign() < 0 || a.negz)
	return r, true
}

// text prints the decimal rounded to its declared scale, with exactly that many digits.
func (d dec) text() string {
	r := d.rounded()
	neg := r.v.Sign() < 0
	digits := new(big.Int).Abs(r.v).String()
	if r.scale > 0 {
		if len(digits) <= r.scale {
			digits = strings.Repeat("0", r.scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-r.scale] + "." + digits[len(digits)-r.scale:]
	}
	if neg || r.negz {
		return "-" + digits
	}
	return digits
}

// roundDown returns the integer part of d (truncated toward zero).
func roundDown(d dec) *big.Int { return new(big.Int).Quo(d.v, pow10(d.scale)) }
