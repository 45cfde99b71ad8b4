package where

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/opcode"
)

func formatCtx(sb *strings.Builder) *format.RestoreCtx {
	return format.NewRestoreCtx(format.DefaultRestoreFlags, sb)
}

var (
	errSigned   = errors.New("BIGINT value is out of range")
	errUnsigned = errors.New("BIGINT UNSIGNED value is out of range")
	bigMaxInt   = big.NewInt(math.MaxInt64)
	bigMinInt   = big.NewInt(math.MinInt64)
	bigMaxUint  = new(big.Int).SetUint64(math.MaxUint64)
)

func bigOf(v val) *big.Int {
	if v.k == vUint {
		return new(big.Int).SetUint64(v.u)
	}
	return big.NewInt(v.i)
}

// intResult checks an integer result's range: unsigned when an operand was unsigned.
func intResult(r *big.Int, unsigned bool) (val, error) {
	if unsigned {
		if r.Sign() < 0 || r.Cmp(bigMaxUint) > 0 {
			return null, errUnsigned
		}
		return val{k: vUint, u: r.Uint64()}, nil
	}
	if r.Cmp(bigMaxInt) > 0 || r.Cmp(bigMinInt) < 0 {
		return null, errSigned
	}
	return intVal(r.Int64()), nil
}

// arith applies + - * / DIV % with MySQL's result types: DOUBLE when an operand is a double
// or a string, DECIMAL when one is a decimal (and always for /), else BIGINT (UNSIGNED when
// an operand is unsigned; MOD takes the dividend's). Division by zero gives NULL.
func arith(op opcode.Op, a, b val) (val, error) {
	if a.k == vNull || b.k == vNull {
		return null, nil
	}
	x, y := a.number(), b.number()
	switch {
	case op == opcode.IntDiv:
		return intDiv(x, y)
	case x.k == vFloat || y.k == vFloat:
		return floatArith(op, x.toFloat(), y.toFloat())
	case x.k == vDec || y.k == vDec || op == opcode.Div:
		return decArith(op, x.toDec(), y.toDec())
	}
	return intArith(op, x, y)
}

// intDiv is x DIV y, a BIGINT (UNSIGNED when an operand is), computed in decimal when an
// operand is a double or a decimal.
func intDiv(x, y val) (val, error) {
	if x.k == vFloat || y.k == vFloat || x.k == vDec || y.k == vDec {
		q, ok := decIntDiv(x.toDec(), y.toDec())
		if !ok {
			return null, nil
		}
		return intResult(q, x.k == vUint || y.k == vUint)
	}
	if isZeroInt(y) {
		return null, nil
	}
	return intResult(new(big.Int).Quo(bigOf(x), bigOf(y)), x.k == vUint || y.k == vUint)
}

// floatArith is p op q in DOUBLE.
func floatArith(op opcode.Op, p, q float64) (val, error) {
	var r float64
	switch op {
	case opcode.Plus:
		r = p + q
	case opcode.Minus:
		r = p - q
	case opcode.Mul:
		r = p * q
	case opcode.Div:
		if q == 0 {
			return null, nil
		}
		r = p / q
	case opcode.Mod:
		if q == 0 {
			return null, nil
		}
		r = math.Mod(p, q)
	}
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return null, errors.New("DOUBLE value is out of range")
	}
	return val{k: vFloat, f: r}, nil
}

// decArith is p op q in DECIMAL.
func decArith(op opcode.Op, p, q dec) (val, error) {
	var r dec
	switch op {
	case opcode.Plus:
		r = decAdd(p, q, false)
	case opcode.Minus:
		r = decAdd(p, q, true)
	case opcode.Mul:
		r = decMul(p, q)
	case opcode.Div:
		var ok bool
		if r, ok = decDiv(p, q); !ok {
			return null, nil
		}
	case opcode.Mod:
		var ok bool
		if r, ok = decMod(p, q); !ok {
			return null, nil
		}
	}
	return val{k: vDec, d: r}, nil
}

// intArith is x op y in BIGINT: UNSIGNED when an operand is, for MOD when the dividend is.
func intArith(op opcode.Op, x, y val) (val, error) {
	unsigned := x.k == vUint || y.k == vUint
	p, q := bigOf(x), bigOf(y)
	r := new(big.Int)
	switch op {
	case opcode.Plus:
		r.Add(p, q)
	case opcode.Minus:
		r.Sub(p, q)
	case opcode.Mul:
		r.Mul(p, q)
	case opcode.Mod:
		if q.Sign() == 0 {
			return null, nil
		}
		r.Rem(p, q)
		unsigned = x.k == vUint
	}
	return intResult(r, unsigned)
}

func isZeroInt(v val) bool {
	if v.k == vUint {
		return v.u == 0
	}
	return v.i == 0
}

// neg is unary minus.
func neg(v val) (val, error) {
	x := v.number()
	switch x.k {
	case vInt:
		if x.i == math.MinInt64 {
			return null, errSigned
		}
		return intVal(-x.i), nil
	case vUint:
		if x.u <= 1<<63 {
			return intVal(int64(-x.u)), nil
		}
		return null, errSigned
	case vDec:
		return val{k: vDec, d: dec{v: new(big.Int).Neg(x.d.v), scale: x.d.scale, decl: x.d.decl}}, nil
	}
	return val{k: vFloat, f: -x.f}, nil
}

// toInt converts a non-NULL value to an integer argument (SUBSTR positions): decimals and
// doubles round half away from zero, strings take their integer value.
func toInt(v val) int64 {
	x := v.number()
	switch x.k {
	case vInt:
		return x.i
	case vUint:
		if x.u > math.MaxInt64 {
			return math.MaxInt64
		}
		return int64(x.u)
	case vDec:
		r := roundDiv(x.d.v, pow10(x.d.scale))
		if !r.IsInt64() {
			if r.Sign() < 0 {
				return math.MinInt64
			}
			return math.MaxInt64
		}
		return r.Int64()
	}
	f := math.Round(x.f)
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	if f <= math.MinInt64 {
		return math.MinInt64
	}
	return int64(f)
}

// substr is SUBSTR(s, pos, n) on characters (bytes for binary strings), 1-based, negative
// positions counting from the end, position 0 or n < 1 giving ”.
func substr(s val, pos, n int64) val {
	bin := s.bin
	str := s.text()
	var l int64
	if bin {
		l = int64(len(str))
	} else {
		l = int64(utf8.RuneCountInString(str))
	}
	var start int64
	switch {
	case pos > 0:
		start = pos - 1
	case pos < 0:
		start = l + pos
	default:
		return val{k: vStr, bin: bin}
	}
	if start < 0 || start >= l || n < 1 {
		return val{k: vStr, bin: bin}
	}
	end := l
	if n < l-start {
		end = start + n
	}
	if bin {
		return val{k: vStr, s: str[start:end], bin: true}
	}
	rs := []rune(str)
	return val{k: vStr, s: string(rs[start:end]), bin: false}
}

// likeMatch matches s against a LIKE pattern: % any run of characters, _ one character,
// esc followed by a character that character literally. Case-insensitive unless bin;
// trailing spaces are significant (as in MySQL's LIKE).
func likeMatch(s, pattern string, esc rune, bin bool) bool {
	type tok struct {
		r    rune
		kind byte // 0 literal, '%', '_'
	}
	var toks []tok
	pr := []rune(pattern)
	if bin {
		pr = bytesAsRunes(pattern)
	}
	for i := 0; i < len(pr); i++ {
		r := pr[i]
		switch {
		case r == esc && i+1 < len(pr):
			i++
			toks = append(toks, tok{r: pr[i]})
		case r == '%':
			toks = append(toks, tok{kind: '%'})
		case r == '_':
			toks = append(toks, tok{kind: '_'})
		default:
			toks = append(toks, tok{r: r})
		}
	}
	var sr []rune
	if bin {
		sr = bytesAsRunes(s)
	} else {
		sr = []rune(s)
	}
	eq := func(a, b rune) bool {
		if bin {
			return a == b
		}
		return a == b || fold(a) == fold(b)
	}
	// Iterative wildcard matching with backtracking to the last %.
	si, ti := 0, 0
	starT, starS := -1, 0
	for si < len(sr) {
		if ti < len(toks) && toks[ti].kind == '%' {
			starT, starS = ti, si
			ti++
			continue
		}
		if ti < len(toks) && (toks[ti].kind == '_' || toks[ti].kind == 0 && eq(toks[ti].r, sr[si])) {
			si++
			ti++
			continue
		}
		if starT >= 0 {
			starS++
			si, ti = starS, starT+1
			continue
		}
		return false
	}
	for ti < len(toks) && toks[ti].kind == '%' {
		ti++
	}
	return ti == len(toks)
}

func bytesAsRunes(s string) []rune {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return r
}
