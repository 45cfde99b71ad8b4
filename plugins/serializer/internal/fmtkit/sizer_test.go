package fmtkit

import (
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
)

// Finish leaves values in a buffer that did not grow and has little slack, and copies them
// into an array of their size when the buffer grew or is mostly empty.
func TestSizerFinishKeepsValuesExact(t *testing.T) {
	fill := func(capacity, n, size int) ([]byte, int, []sdk.Record) {
		buf := make([]byte, 0, capacity)
		start := cap(buf)
		var recs []sdk.Record
		for i := 0; i < n; i++ {
			s := len(buf)
			for j := 0; j < size; j++ {
				buf = append(buf, byte('a'+i))
			}
			recs = append(recs, sdk.Record{Value: buf[s:len(buf):len(buf)]})
		}
		return buf, start, recs
	}
	var z Sizer
	buf, start, recs := fill(1000, 10, 90) // 900 of 1000 bytes: kept
	z.Finish(buf, start, 10, recs)
	if &recs[0].Value[0] != &buf[0] {
		t.Error("values of a buffer with little slack were copied")
	}
	for _, c := range []struct{ capacity, n, size int }{{100, 10, 90}, {4000, 10, 90}} { // grew; 3/4 empty
		buf, start, recs := fill(c.capacity, c.n, c.size)
		z.Finish(buf, start, c.n, recs)
		for i := range recs {
			if cap(recs[i].Value) != c.size || recs[i].Value[0] != byte('a'+i) || len(recs[i].Value) != c.size {
				t.Fatalf("capacity %d: record %d not compacted: len %d cap %d", c.capacity, i, len(recs[i].Value), cap(recs[i].Value))
			}
		}
	}
}
