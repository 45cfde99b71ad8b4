package console

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/status"
)

func init() { Location = time.UTC }

func TestProgressBarGolden(t *testing.T) {
	s := sampleSnapshotting()
	for _, c := range []struct {
		width int
		want  string
	}{
		{200, "snapshot [==========>             ]  45.4%  1.24M/~2.74M rows  12.3k rows/s  ETA 2m01s  tables 1/4  slowest shop.order_items 15.0%"},
		{140, "snapshot [=======>         ]  45.4%  1.24M/~2.74M rows  12.3k rows/s  ETA 2m01s  tables 1/4  slowest shop.order_items 15.0%"},
		{120, "snapshot [======>       ]  45.4%  1.24M/~2.74M rows  12.3k rows/s  ETA 2m01s  tables 1/4  slowest shop.order_i... 15.0%"},
		{100, "snapshot [=====>      ]  45.4%  1.24M/~2.74M rows  12.3k rows/s  ETA 2m01s  tables 1/4"},
		{80, "snapshot [====>     ]  45.4%  1.24M/~2.74M rows  ETA 2m01s  tables 1/4"},
		{40, "snapshot [====>     ]  45.4%"},
	} {
		if got := Frame(s, c.width); got != c.want {
			t.Errorf("width %d:\n got %q\nwant %q", c.width, got, c.want)
		}
	}

	// Almost there: the bar is full only when the percent is 100.
	a := sampleSnapshotting()
	a.Snapshot.Percent, a.Snapshot.ETASeconds = f64(99.9), f64(0.4)
	if got, want := Frame(a, 100), "snapshot [===========>]  99.9%  1.24M/~2.74M rows  12.3k rows/s  ETA <1s  tables 1/4"; got != want {
		t.Errorf("99.9%%:\n got %q\nwant %q", got, want)
	}

	// One table being read is "reading"; none being read shows the next.
	s.Snapshot.Tables[2].State = status.TablePending
	if got := Frame(s, 200); !strings.HasSuffix(got, "tables 1/4  reading shop.orders 45.4%") {
		t.Errorf("one table read: %q", got)
	}
	s.Snapshot.Tables[1].State = status.TablePending
	if got := Frame(s, 200); !strings.HasSuffix(got, "tables 1/4  next shop.orders 45.4%") {
		t.Errorf("none read: %q", got)
	}

	// Unknown estimates: no percent, no ETA; the bar shows the tables done. A stopping
	// pipeline says so.
	u := sampleSnapshotting()
	u.Phase = status.PhaseStopping
	u.Snapshot.Percent, u.Snapshot.ETASeconds, u.Snapshot.Tables[2].Percent = nil, nil, nil
	want := "snapshot (stopping) [====>            ]     ?%  1.24M rows  12.3k rows/s  tables 1/4  slowest shop.order_items 12.0k rows"
	if got := Frame(u, 140); got != want {
		t.Errorf("unknown:\n got %q\nwant %q", got, want)
	}
}

func TestLiveLineGolden(t *testing.T) {
	s := sampleLive()
	for _, c := range []struct {
		width int
		want  string
	}{
		{160, "running, incremental | 1.23k rows/s 456.1 KiB/s | latency p50 12ms p99 48ms | error 5s ago: send to broker 10.0.0.7:10911: broker busy, retrying"},
		{100, "running, incremental | 1.23k rows/s 456.1 KiB/s | p50 12ms p99 48ms | error 5s ago: send to brok..."},
		{60, "running, incremental | error 5s ago: send to broker 10.0..."},
	} {
		if got := Frame(s, c.width); got != c.want {
			t.Errorf("width %d:\n got %q\nwant %q", c.width, got, c.want)
		}
	}

	s.LastError = ""
	s.Latency.ClockSkewMs = 2300
	s.Latency.ClockNote = "commit times were up to 2.3s ahead ..."
	for _, c := range []struct {
		width int
		want  string
	}{
		{160, "running, incremental | 1.23k rows/s 456.1 KiB/s | latency p50 12ms p99 48ms (source clock +2.3s) | commit 12:00:09 | checkpoint 2s ago"},
		{100, "running, incremental | 1.23k rows/s 456.1 KiB/s | latency p50 12ms p99 48ms (source clock +2.3s)"},
		{80, "running, incremental | 1.23k rows/s | p50 12ms p99 48ms (source clock +2.3s)"},
	} {
		if got := Frame(s, c.width); got != c.want {
			t.Errorf("width %d:\n got %q\nwant %q", c.width, got, c.want)
		}
	}

	for _, c := range []struct {
		s    status.Snapshot
		want string
	}{
		{status.Snapshot{Phase: status.PhaseStarting}, "starting"},
		{status.Snapshot{Phase: status.PhaseRunning}, "running | 0 rows/s 0 B/s"},
		{status.Snapshot{Phase: status.PhaseFailed, Stage: status.StageIncremental, LastError: "boom", Now: now, LastErrorAt: now},
			"failed | 0 rows/s 0 B/s | error <1s ago: boom"},
		{status.Snapshot{Phase: status.PhaseRunning, Stage: status.StageIncremental, Now: now, LastCommitTime: now.Add(-30 * time.Hour)},
			"running, incremental | 0 rows/s 0 B/s | commit 2026-02-28 06:00:10"},
	} {
		if got := Frame(c.s, 120); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestSnapshotDoneLine(t *testing.T) {
	if got, want := SnapshotDone(sampleLive().Snapshot, 192*time.Second, 120), "snapshot done: 4 tables, 1,244,000 rows in 3m12s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Whatever the width, a frame is one line of printable text that does not wrap.
func TestFrameFitsAnyWidth(t *testing.T) {
	wide := sampleSnapshotting()
	wide.Snapshot.Tables[2].Table = "商店.订单明细_历史归档表_二〇二五年"
	for _, s := range []status.Snapshot{sampleSnapshotting(), sampleLive(), wide} {
		for w := 1; w <= 220; w++ {
			f := Frame(s, w)
			if cells(f) > max(w-1, 1) {
				t.Errorf("width %d: %d columns: %q", w, cells(f), f)
			}
			if strings.ContainsFunc(f, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Errorf("control character in %q", f)
			}
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Count(0), "0"}, {Count(999), "999"}, {Count(1000), "1,000"}, {Count(-1234567), "-1,234,567"},
		{Compact(950), "950"}, {Compact(13_500), "13.5k"}, {Compact(2_730_000), "2.73M"}, {Compact(123_456_789_012), "123G"},
		{Duration(850 * time.Millisecond), "850ms"}, {Duration(42 * time.Second), "42s"}, {Duration(187 * time.Second), "3m07s"},
		{Duration(2*time.Hour + 5*time.Minute), "2h05m"}, {Duration(76 * time.Hour), "3d04h"},
		{Percent(nil), "unknown"}, {Percent(f64(45.38)), "45.4%"},
		{Bytes(512), "512 B"}, {Bytes(1536), "1.5 KiB"},
		{truncate("shop.orders", 8), "shop...."}, {truncate("订单订单", 7), "订单..."}, {truncate("abc", 3), "abc"},
		{clean("a\n\tb\x1b[2Jc"), "a b [2Jc"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestLiveLineWaiting(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := status.Snapshot{Phase: status.PhaseWaiting, Now: now, StartedAt: now.Add(-10 * time.Second),
		Waiting: &status.Waiting{For: `source "oceanbase"`, Address: "10.0.0.5:2881", What: "precheck", Attempt: 3,
			NextAttemptAt: now.Add(4 * time.Second), GiveUpAt: now.Add(time.Minute)}}
	want := `waiting for source "oceanbase" at 10.0.0.5:2881 (attempt 3, next in 4s)`
	if got := Frame(s, 160); !strings.HasPrefix(got, want) || strings.Contains(got, "rows/s") {
		t.Errorf("got %q, want it to start with %q (and no rates)", got, want)
	}
}
