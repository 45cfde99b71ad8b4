package change

import (
	"math"
	"testing"
	"time"
)

// Variables, so that the sum is computed in float64 at run time, not folded exactly.
var pointOne, pointTwo = 0.1, 0.2

func text(v Value, fsp int) string { return string(v.AppendText(nil, fsp)) }

func mustDT(t *testing.T, tm Temporal, ts bool) Value {
	t.Helper()
	v, err := NewDateTime(tm, ts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValueText(t *testing.T) {
	date, err := NewDate(2024, 2, 29)
	if err != nil {
		t.Fatal(err)
	}
	zeroDate, _ := NewDate(0, 0, 0)
	negTime, _ := NewTime(true, 838, 59, 59, 0)
	fracTime, _ := NewTime(false, 1, 2, 3, 4500)
	cases := []struct {
		name string
		v    Value
		fsp  int
		want string
	}{
		{"int min", NewInt(math.MinInt64), -1, "-9223372036854775808"},
		{"uint max", NewUint(math.MaxUint64), -1, "18446744073709551615"},
		{"float32 shortest", NewFloat32(0.1), -1, "0.1"},
		{"float64 shortest", NewFloat64(pointOne + pointTwo), -1, "0.30000000000000004"},
		{"float64 exponent", NewFloat64(1e300), -1, "1e+300"},
		{"decimal keeps scale", MustDecimal("-12.3400"), -1, "-12.3400"},
		{"decimal huge", MustDecimal("12345678901234567890123456789012345.123456789012345678901234567890"), -1,
			"12345678901234567890123456789012345.123456789012345678901234567890"},
		{"string", NewString("héllo"), -1, "héllo"},
		{"bytes raw", NewBytes([]byte{0, 1, 0xff}), -1, "\x00\x01\xff"},
		{"date", date, -1, "2024-02-29"},
		{"zero date", zeroDate, -1, "0000-00-00"},
		{"datetime fsp 6", mustDT(t, Temporal{Year: 2024, Month: 1, Day: 2, Hour: 3, Minute: 4, Second: 5, Microsecond: 120}, false), 6, "2024-01-02 03:04:05.000120"},
		{"datetime fsp 3 truncates", mustDT(t, Temporal{Year: 2024, Month: 1, Day: 2, Hour: 3, Minute: 4, Second: 5, Microsecond: 123999}, false), 3, "2024-01-02 03:04:05.123"},
		{"datetime fsp 0", mustDT(t, Temporal{Year: 2024, Month: 1, Day: 2, Hour: 3, Minute: 4, Second: 5, Microsecond: 999999}, false), 0, "2024-01-02 03:04:05"},
		{"datetime auto trims", mustDT(t, Temporal{Year: 1, Month: 1, Day: 1, Microsecond: 500000}, false), -1, "0001-01-01 00:00:00.5"},
		{"timestamp", mustDT(t, Temporal{Year: 2038, Month: 1, Day: 19, Hour: 3, Minute: 14, Second: 7}, true), -1, "2038-01-19 03:14:07"},
		{"negative time max", negTime, -1, "-838:59:59"},
		{"time fraction", fracTime, 6, "01:02:03.004500"},
		{"year", NewYear(2155), -1, "2155"},
		{"year zero", NewYear(0), -1, "0000"},
		{"json", NewJSON(`{"a": [1, 2]}`), -1, `{"a": [1, 2]}`},
		{"bit", NewBit(0b1011), -1, "11"},
		{"enum", NewEnum("paid", 2), -1, "paid"},
		{"set", NewSet("a,c", 0b101), -1, "a,c"},
		{"null", Null, -1, ""},
	}
	for _, c := range cases {
		if got := text(c.v, c.fsp); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestValueAccessorsAndRaw(t *testing.T) {
	vals := []Value{Null, NewInt(-5), NewUint(7), NewFloat32(1.5), NewFloat64(-2.25), MustDecimal("1.10"),
		NewString("x"), NewBytes([]byte{0}), NewJSON("[]"), NewBit(3), NewEnum("b", 2), NewSet("a", 1), NewYear(1999)}
	for _, v := range vals {
		k, n, s := v.Raw()
		if got := FromRaw(k, n, s); !got.Equal(v) {
			t.Errorf("raw round trip of %v gave %v", v, got)
		}
	}
	if NewInt(-5).Int() != -5 || NewUint(7).Uint() != 7 || NewFloat32(1.5).Float() != 1.5 || NewFloat64(-2.25).Float() != -2.25 {
		t.Error("accessors")
	}
	if !Null.IsNull() || NewString("").IsNull() {
		t.Error("IsNull")
	}
	b := []byte{1, 2}
	v := NewBytes(b)
	b[0] = 9
	if v.Bytes()[0] != 1 {
		t.Error("NewBytes must copy")
	}
}

func TestDecimalValidation(t *testing.T) {
	for _, ok := range []string{"0", "-1", "+1.5", ".5", "5.", "00012.3400"} {
		if _, err := NewDecimal(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-", ".", "1e5", "1.2.3", "NaN", "1,5", " 1"} {
		if _, err := NewDecimal(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTemporalBoundsAndConversions(t *testing.T) {
	if _, err := NewTime(false, 839, 0, 0, 0); err == nil {
		t.Error("TIME over 838 hours accepted")
	}
	if _, err := NewDateTime(Temporal{Year: 2024, Month: 13, Day: 1}, false); err == nil {
		t.Error("month 13 accepted")
	}
	if _, err := NewDateTime(Temporal{Year: 2024, Month: 1, Day: 1, Hour: 24}, false); err == nil {
		t.Error("hour 24 accepted in a DATETIME")
	}
	v := mustDT(t, Temporal{Year: 9999, Month: 12, Day: 31, Hour: 23, Minute: 59, Second: 59, Microsecond: 999999}, false)
	tm := v.Temporal()
	if tm.Year != 9999 || tm.Month != 12 || tm.Day != 31 || tm.Hour != 23 || tm.Minute != 59 || tm.Second != 59 || tm.Microsecond != 999999 {
		t.Errorf("max datetime round trip: %+v", tm)
	}
	goTime, ok := tm.Time(nil)
	if !ok || goTime.Year() != 9999 || goTime.Nanosecond() != 999999000 {
		t.Errorf("Time(): %v %v", goTime, ok)
	}
	zero, _ := NewDate(0, 0, 0)
	if _, ok := zero.Temporal().Time(nil); ok {
		t.Error("zero date converted to time.Time")
	}
	neg, _ := NewTime(true, 1, 30, 0, 250000)
	if d := neg.Temporal().Duration(); d != -(90*time.Minute + 250*time.Millisecond) {
		t.Errorf("duration %v", d)
	}
	negZero, _ := NewTime(true, 0, 0, 0, 0)
	if text(negZero, -1) != "00:00:00" {
		t.Errorf("negative zero time printed %q", text(negZero, -1))
	}
	ts := NewTimestampFromTime(time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600)))
	if got := text(ts, -1); got != "2024-05-06 06:08:09.123456" {
		t.Errorf("timestamp from time: %q", got)
	}
}

func TestKeyHashStableAcrossOps(t *testing.T) {
	tbl := &Table{Database: "d", Name: "t", Columns: []Column{{Name: "id"}, {Name: "v"}}, PrimaryKey: []int{0}}
	ins := &Change{ID: "1", Op: OpInsert, Table: tbl, After: []Value{NewInt(1), NewString("a")}}
	upd := &Change{ID: "2", Op: OpUpdate, Table: tbl, Before: []Value{NewInt(1), NewString("a")}, After: []Value{NewInt(1), NewString("b")}}
	del := &Change{ID: "3", Op: OpDelete, Table: tbl, Before: []Value{NewInt(1), NewString("b")}}
	other := &Change{ID: "4", Op: OpInsert, Table: tbl, After: []Value{NewInt(2), NewString("a")}}
	if ins.KeyHash(nil) != upd.KeyHash(nil) || upd.KeyHash(nil) != del.KeyHash(nil) {
		t.Error("same key hashed differently across operations")
	}
	if ins.KeyHash(nil) == other.KeyHash(nil) {
		t.Error("different keys hashed alike")
	}
	// Int 1 and Uint 1 are different keys only if their kinds differ; the kind is hashed.
	if NewInt(1) == NewUint(1) {
		t.Error("kinds must distinguish values")
	}
	for _, c := range []*Change{ins, upd, del} {
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
	}
	bad := &Change{ID: "5", Op: OpUpdate, Table: tbl, After: []Value{NewInt(1), NewString("b")}}
	if bad.Validate() == nil {
		t.Error("update without before image accepted")
	}
}

func TestKeyColumnsFallback(t *testing.T) {
	tbl := &Table{Database: "d", Name: "t", Columns: []Column{{Name: "a", Nullable: true}, {Name: "b"}, {Name: "c"}},
		UniqueKeys: [][]int{{0}, {1, 2}}}
	if got := tbl.KeyColumns(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("unique NOT NULL key expected, got %v", got)
	}
	tbl.UniqueKeys = nil
	if got := tbl.KeyColumns(); len(got) != 3 {
		t.Errorf("all columns expected, got %v", got)
	}
	tbl.PrimaryKey = []int{2}
	if got := tbl.KeyColumns(); len(got) != 1 || got[0] != 2 {
		t.Errorf("primary key expected, got %v", got)
	}
	if tbl.ColumnIndex("B") != 1 || tbl.ColumnIndex("zz") != -1 {
		t.Error("ColumnIndex")
	}
}

func TestOpNames(t *testing.T) {
	for op := OpSnapshot; op <= OpHeartbeat; op++ {
		got, err := ParseOp(op.String())
		if err != nil || got != op {
			t.Errorf("%v: %v %v", op, got, err)
		}
	}
	if _, err := ParseOp("unknown"); err == nil {
		t.Error("unknown parsed")
	}
}
