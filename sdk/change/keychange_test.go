package change

import (
	"testing"
	"time"
)

func TestEncodeKeyRoundTrip(t *testing.T) {
	vals := []Value{NewInt(-5), NewString("a:b:3:"), Null, NewBytes([]byte{0, 1, 0xff}), MustDecimal("-12.30"),
		NewUint(18446744073709551615), NewEnum("x", 2), NewFloat64(0.1), NewString("")}
	vals = append(vals, NewTimestampFromTime(time.Date(2024, 2, 29, 1, 2, 3, 4000, time.UTC)))
	got, err := DecodeKey(EncodeKey(vals))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(vals) {
		t.Fatalf("got %d values, want %d", len(got), len(vals))
	}
	for i := range vals {
		if !got[i].Equal(vals[i]) {
			t.Errorf("value %d: got %v, want %v", i, got[i], vals[i])
		}
	}
	if v, err := DecodeKey(""); err != nil || len(v) != 0 {
		t.Fatalf("empty: %v %v", v, err)
	}
	for _, bad := range []string{"1", "1:2", "1:2:9:ab", "x:1:1:a", "300:0:0:"} {
		if _, err := DecodeKey(bad); err == nil {
			t.Errorf("DecodeKey(%q) accepted", bad)
		}
	}
	if del, again := KeyChangeDeleteID("a"), KeyChangeDeleteID("a"); del == KeyChangeInsertID("a") || del != again {
		t.Fatal("ids not distinct or not stable")
	}
}
