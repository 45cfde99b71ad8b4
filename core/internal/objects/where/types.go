package where

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Static types. MySQL chooses how to compare (BETWEEN's three operands in particular) from
// the operands' declared types, whatever their values (also NULL), so the compiler works
// them out from the AST: a representative val of each expression's type.

// columnType returns a representative value of a column's type.
func columnType(col *change.Column) val {
	bin := binaryColumn(col)
	switch strings.ToUpper(col.Type) {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT":
		if col.Unsigned {
			return val{k: vUint}
		}
		return val{k: vInt}
	case "YEAR":
		return val{k: vInt}
	case "BIT":
		return val{k: vUint}
	case "DECIMAL", "NUMERIC":
		return val{k: vDec}
	case "FLOAT", "DOUBLE", "REAL":
		return val{k: vFloat}
	case "DATE":
		return val{k: vTemp, tk: change.KindDate}
	case "DATETIME":
		return val{k: vTemp, tk: change.KindDateTime}
	case "TIMESTAMP":
		return val{k: vTemp, tk: change.KindTimestamp}
	case "TIME":
		return val{k: vTemp, tk: change.KindTime}
	case "ENUM", "SET":
		n := val{k: vUint}
		return val{k: vStr, bin: bin, num: &n}
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB":
		return val{k: vStr, bin: true}
	}
	return val{k: vStr, bin: bin}
}

// stype returns a representative value of n's type.
func (c *compiler) stype(n ast.ExprNode) val {
	switch x := n.(type) {
	case *ast.ParenthesesExpr:
		return c.stype(x.Expr)
	case *ast.ColumnNameExpr:
		if i := c.table.ColumnIndex(x.Name.Name.O); i >= 0 {
			return columnType(&c.table.Columns[i])
		}
	case *driver.ValueExpr:
		v, _ := c.literal(x)
		return v
	case *ast.BinaryOperationExpr:
		switch x.Op {
		case opcode.Plus, opcode.Minus, opcode.Mul, opcode.Div, opcode.IntDiv, opcode.Mod:
			return arithType(x.Op, c.stype(x.L), c.stype(x.R))
		}
	case *ast.UnaryOperationExpr:
		switch x.Op {
		case opcode.Plus:
			return c.stype(x.V)
		case opcode.Minus:
			t := c.stype(x.V).number()
			if t.k == vUint {
				return val{k: vInt}
			}
			if t.k == vNull {
				return val{k: vInt}
			}
			return val{k: t.k}
		}
	case *ast.FuncCallExpr:
		bin := false
		for _, a := range x.Args {
			bin = bin || c.stype(a).bin
		}
		if x.FnName.L == "concat" {
			return val{k: vStr, bin: bin}
		}
		if len(x.Args) > 0 {
			return val{k: vStr, bin: c.stype(x.Args[0]).bin}
		}
		return val{k: vStr}
	}
	return val{k: vInt}
}

func arithType(op opcode.Op, l, r val) val {
	x, y := l.number().k, r.number().k
	if x == vNull {
		x = vInt
	}
	if y == vNull {
		y = vInt
	}
	switch {
	case op == opcode.IntDiv:
		if x == vUint || y == vUint {
			return val{k: vUint}
		}
		return val{k: vInt}
	case x == vFloat || y == vFloat:
		return val{k: vFloat}
	case x == vDec || y == vDec || op == opcode.Div:
		return val{k: vDec}
	case op == opcode.Mod:
		return val{k: x}
	case x == vUint || y == vUint:
		return val{k: vUint}
	}
	return val{k: vInt}
}

// constNull reports whether n is NULL whatever the row: MariaDB folds such expressions
// before execution, so their other operands are never evaluated (and cannot fail).
func constNull(n ast.ExprNode) bool {
	switch x := n.(type) {
	case *ast.ParenthesesExpr:
		return constNull(x.Expr)
	case *driver.ValueExpr:
		return x.Kind() == driver.KindNull
	case *ast.BinaryOperationExpr:
		switch x.Op {
		case opcode.LogicAnd, opcode.LogicOr, opcode.NullEQ:
			return false
		}
		return constNull(x.L) || constNull(x.R)
	case *ast.UnaryOperationExpr:
		return constNull(x.V)
	case *ast.PatternLikeOrIlikeExpr:
		return constNull(x.Expr) || constNull(x.Pattern)
	case *ast.BetweenExpr:
		return constNull(x.Expr)
	case *ast.PatternInExpr:
		return constNull(x.Expr)
	case *ast.FuncCallExpr:
		for _, a := range x.Args {
			if constNull(a) {
				return true
			}
		}
	}
	return false
}

// ctOf is the comparison class of a (representative) value.
func ctOf(v val) ct {
	switch {
	case v.k == vStr: // ENUM and SET too: strings here, their number only in numeric contexts
		return cStr
	case v.k == vTemp:
		return cTemp
	}
	return numClass(v)
}

// aggCT combines two comparison classes as MariaDB aggregates types for comparison.
func aggCT(x, y ct) ct {
	switch {
	case x == y:
		return x
	case x == cTemp || y == cTemp:
		return cTemp
	case x == cStr || y == cStr:
		if x == cDec || y == cDec {
			return cDec
		}
		return cFloat
	}
	return aggNum(x, y)
}

var dateRE = regexp.MustCompile(`^\s*(\d{1,4})[-/.:](\d{1,2})[-/.:](\d{1,2})(?:[ T]+(\d{1,2})[:.](\d{1,2})[:.](\d{1,2})(?:\.(\d{1,6}))?)?`)

// toDateKey converts a value to the ordered key of a DATETIME, as MariaDB converts the other
// operand of a comparison with a DATE/DATETIME: a string by its leading date[time], a number
// as [YY]YYMMDD[hhmmss]; what does not convert is the zero date (MariaDB warns).
func toDateKey(v val) int64 {
	switch v.k {
	case vTemp:
		if v.tk == change.KindTime {
			return 0
		}
		return v.key
	case vStr:
		if v.num != nil {
			return numberToDateKey(*v.num)
		}
		m := dateRE.FindStringSubmatch(v.s)
		var extra []int // time fields after a date written with other delimiters
		if m != nil && len(m[0]) < len(v.s) {
			rest := v.s[len(m[0]):]
			switch {
			case rest[0] >= '0' && rest[0] <= '9':
				return 0 // a longer last field: invalid
			case m[4] == "" && len(rest) > 1 && strings.ContainsRune("-:/.", rune(rest[0])) && rest[1] >= '0' && rest[1] <= '9':
				// MariaDB reads what follows the date as the time of day ("-0.0" is 00:00).
				extra = leadingFields(rest[1:], 3)
				if len(extra) == 0 || extra[0] > 23 || len(extra) > 1 && extra[1] > 59 || len(extra) > 2 && extra[2] > 59 {
					return 0
				}
			}
		}
		if m == nil {
			if t := strings.TrimSpace(v.s); t != "" && strings.Trim(t, "0123456789") == "" {
				n, err := strconv.ParseInt(t, 10, 64)
				if err == nil && (len(t) == 6 || len(t) == 8 || len(t) == 12 || len(t) == 14) {
					return numberToDateKey(intVal(n))
				}
			}
			return 0
		}
		p := func(i int) int {
			n, _ := strconv.Atoi(m[i])
			return n
		}
		y := p(1)
		if len(m[1]) <= 2 {
			if y < 70 {
				y += 2000
			} else {
				y += 1900
			}
		}
		us := 0
		if m[7] != "" {
			us, _ = strconv.Atoi((m[7] + "000000")[:6])
		}
		if extra != nil {
			for len(extra) < 3 {
				extra = append(extra, 0)
			}
			return dateKey(y, p(2), p(3), extra[0], extra[1], extra[2], 0)
		}
		return dateKey(y, p(2), p(3), p(4), p(5), p(6), us)
	}
	return numberToDateKey(v)
}

func dateKey(y, mo, d, h, mi, s, us int) int64 {
	if mo > 12 || d > 31 || h > 23 || mi > 59 || s > 59 {
		return 0
	}
	t, err := change.NewDateTime(change.Temporal{Year: uint16(y), Month: uint8(mo), Day: uint8(d),
		Hour: uint16(h), Minute: uint8(mi), Second: uint8(s), Microsecond: uint32(us)}, false)
	if err != nil {
		return 0
	}
	_, n, _ := t.Raw()
	return int64(n)
}

// numberToDateKey is MySQL's number_to_datetime.
func numberToDateKey(v val) int64 {
	var nr int64
	us := 0
	switch n := v.number(); n.k {
	case vInt:
		nr = n.i
	case vUint:
		if n.u > 1<<62 {
			return 0
		}
		nr = int64(n.u)
	case vDec:
		d := n.d
		ip := roundDown(d)
		if !ip.IsInt64() {
			return 0
		}
		nr = ip.Int64()
		frac := decAdd(d, dec{v: ip}, true)
		us = int(roundDiv(frac.at(max(frac.scale, 6)), pow10(max(frac.scale, 6)-6)).Int64())
	case vFloat:
		if n.f < 0 || n.f > 1e15 {
			return 0
		}
		nr = int64(n.f)
		us = int((n.f - float64(nr)) * 1e6)
	default:
		return 0
	}
	switch {
	case nr < 0 || us < 0:
		return 0
	case nr == 0:
		return dateKey(0, 0, 0, 0, 0, 0, us)
	case nr < 101:
		return 0
	case nr <= 691231:
		nr = (nr + 20000000) * 1000000
	case nr < 700101:
		return 0
	case nr <= 991231:
		nr = (nr + 19000000) * 1000000
	case nr < 10000101:
		return 0
	case nr <= 99991231:
		nr *= 1000000
	case nr < 101000000:
		return 0
	case nr <= 691231235959:
		nr += 20000000000000
	case nr < 700101000000:
		return 0
	case nr <= 991231235959:
		nr += 19000000000000
	case nr > 99991231235959:
		return 0
	}
	date, clock := nr/1000000, nr%1000000
	return dateKey(int(date/10000), int(date/100%100), int(date%100), int(clock/10000), int(clock/100%100), int(clock%100), us)
}

// leadingFields reads up to n numbers separated by single punctuation characters.
func leadingFields(s string, n int) []int {
	var out []int
	for len(out) < n {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			break
		}
		x, _ := strconv.Atoi(s[:i])
		out = append(out, x)
		s = s[i:]
		if len(s) < 2 || !strings.ContainsRune("-:/.", rune(s[0])) {
			break
		}
		s = s[1:]
	}
	return out
}
