package status

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func TestLatencyPercentilesAndClockNote(t *testing.T) {
	var st pipeline.Stats
	tr := NewTracker("p", func() pipeline.Stats { return st })
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var recs []sdk.Record
	for i := 1; i <= 100; i++ { // latencies 1..100 ms
		recs = append(recs, sdk.Record{Op: change.OpInsert, CommitTime: at.Add(-time.Duration(i) * time.Millisecond)})
	}
	// Snapshot rows do not count as latency, but do count as the last commit time.
	recs = append(recs, sdk.Record{Op: change.OpSnapshot, CommitTime: at.Add(-time.Hour)})
	tr.OnDelivered(recs, at)
	s := tr.Snapshot()
	if s.Latency.Samples != 100 || s.Latency.P50Ms != 50 || s.Latency.P99Ms != 99 || s.Latency.LastMs != 100 {
		t.Errorf("latency %+v", s.Latency)
	}
	if !s.LastCommitTime.Equal(at.Add(-time.Millisecond)) {
		t.Errorf("last commit %v", s.LastCommitTime)
	}
	if s.Latency.ClockNote != "" {
		t.Errorf("unexpected note %q", s.Latency.ClockNote)
	}
	// A commit time 2 s in the future: the source's clock is ahead.
	tr.OnDelivered([]sdk.Record{{Op: change.OpUpdate, CommitTime: at.Add(2 * time.Second)}}, at)
	s = tr.Snapshot()
	if s.Latency.LastMs != 0 || !strings.Contains(s.Latency.ClockNote, "2s ahead") {
		t.Errorf("skew: %+v", s.Latency)
	}
}

func TestRatesAndServer(t *testing.T) {
	var st pipeline.Stats
	tr := NewTracker("orders", func() pipeline.Stats { return st })
	t0 := time.Now()
	tr.Sample(t0)
	st.RecordsWritten, st.BytesWritten, st.RecordsSkipped = 500, 50_000, 3
	tr.Sample(t0.Add(5 * time.Second))
	if s := tr.Snapshot(); s.RowsPerSecond != 100 || s.BytesPerSecond != 10_000 {
		t.Errorf("rates %v %v", s.RowsPerSecond, s.BytesPerSecond)
	}
	st.LastError, st.LastErrorAt = "broker busy", time.Now()
	tr.SetPhase(PhaseRunning)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := tr.Run(ctx, "127.0.0.1:0", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	js := get("/status")
	for _, want := range []string{`"pipeline": "orders"`, `"phase": "running"`, `"records_written": 500`, `"records_skipped": 3`, `"last_error": "broker busy"`, `"latency"`} {
		if !strings.Contains(js, want) {
			t.Errorf("/status lacks %s:\n%s", want, js)
		}
	}
	m := get("/metrics")
	for _, want := range []string{`ferry_records_written_total{pipeline="orders"} 500`, `ferry_bytes_written_total{pipeline="orders"} 50000`,
		`ferry_up{pipeline="orders"} 1`, `ferry_latency_seconds_bucket`, `ferry_records_skipped_total{pipeline="orders"} 3`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if got := get("/healthz"); got != "ok\n" {
		t.Errorf("healthz %q", got)
	}
}

// TestWholeSecondCommitTimes: MariaDB's binlog has commit times in seconds; status says that
// latencies read up to a second high, until a commit time with a fraction is seen.
func TestWholeSecondCommitTimes(t *testing.T) {
	var st pipeline.Stats
	tr := NewTracker("p", func() pipeline.Stats { return st })
	at := time.Date(2026, 1, 1, 12, 0, 0, 700_000_000, time.UTC)
	tr.OnDelivered([]sdk.Record{{Op: change.OpInsert, CommitTime: at.Truncate(time.Second)}}, at)
	if s := tr.Snapshot(); !s.Latency.WholeSeconds || !strings.Contains(s.Latency.ResolutionNote, "whole seconds") {
		t.Errorf("whole seconds: %+v", s.Latency)
	}
	tr.OnDelivered([]sdk.Record{{Op: change.OpInsert, CommitTime: at.Add(-30 * time.Millisecond)}}, at)
	if s := tr.Snapshot(); s.Latency.WholeSeconds || s.Latency.ResolutionNote != "" {
		t.Errorf("sub-second commit seen: %+v", s.Latency)
	}
}

// The checkpoint position is shown as the source describes it, asked once per position.
func TestPositionText(t *testing.T) {
	var st pipeline.Stats
	tr := NewTracker("orders", func() pipeline.Stats { return st })
	if s := tr.Snapshot(); s.PositionText != "" {
		t.Errorf("text without a describer: %q", s.PositionText)
	}
	calls := 0
	tr.SetPositionDescriber(func(_ context.Context, pos change.Position) (string, error) {
		calls++
		if string(pos) == "bad" {
			return "", errors.New("not mine")
		}
		return "file:" + string(pos), nil
	})
	st.Committed = change.Position("42")
	for range 3 {
		if s := tr.Snapshot(); s.PositionText != "file:42" || s.Position != "3432" {
			t.Errorf("snapshot %q %q", s.Position, s.PositionText)
		}
	}
	if calls != 1 {
		t.Errorf("described %d times", calls)
	}
	st.Committed = change.Position("bad")
	if s := tr.Snapshot(); s.PositionText != "" {
		t.Errorf("undescribable position: %q", s.PositionText)
	}
	b, _ := json.Marshal(tr.Snapshot())
	if strings.Contains(string(b), "position_text") {
		t.Errorf("empty position_text not omitted: %s", b)
	}
}
