package change

import "testing"

func TestSnapshotMark(t *testing.T) {
	for _, c := range []struct {
		fo, lo, ft, lt bool
		want           string
	}{
		{false, false, false, false, ""},
		{true, false, true, false, SnapshotFirst},
		{true, true, true, true, SnapshotLast},
		{false, false, true, true, SnapshotLastInTable},
		{true, false, true, true, SnapshotFirst},
		{false, false, true, false, SnapshotFirstInTable},
		{false, true, false, true, SnapshotLast},
	} {
		if got := SnapshotMark(c.fo, c.lo, c.ft, c.lt); got != c.want {
			t.Errorf("SnapshotMark(%v, %v, %v, %v) = %q, want %q", c.fo, c.lo, c.ft, c.lt, got, c.want)
		}
	}
}
