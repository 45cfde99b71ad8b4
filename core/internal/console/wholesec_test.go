package console

import (
	"strings"
	"testing"
)

// The whole-second note stays with the latencies, also at 80 columns.
func TestLiveLineWholeSeconds(t *testing.T) {
	s := sampleLive()
	s.Latency.ClockSkewMs, s.Latency.ClockNote = 0, ""
	s.Latency.WholeSeconds = true
	s.LastError = ""
	for _, w := range []int{80, 120} {
		f := Frame(s, w)
		if !strings.Contains(f, "p50") || !strings.Contains(f, "whole-second") || cells(f) >= w {
			t.Errorf("width %d: %q", w, f)
		}
	}
}
