package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/core/internal/status"
)

// fakeTerm is a terminal of width columns that understands what the console writes:
// printable text, "\r", "\n" (to the start of the next line) and "ESC [ K" (erase to the
// end of the line). Anything else, and text that would wrap, is an error.
type fakeTerm struct {
	mu     sync.Mutex
	width  int
	lines  [][]rune
	row    int
	col    int
	writes int
	errs   []string
	raw    bytes.Buffer
}

func newFakeTerm(width int) *fakeTerm { return &fakeTerm{width: width, lines: [][]rune{nil}} }

func (t *fakeTerm) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writes++
	t.raw.Write(p)
	rs := []rune(string(p))
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\r':
			t.col = 0
		case r == '\n':
			t.row, t.col = t.row+1, 0
			for len(t.lines) <= t.row {
				t.lines = append(t.lines, nil)
			}
		case r == 0x1b:
			if i+2 < len(rs) && rs[i+1] == '[' && rs[i+2] == 'K' {
				if t.col < len(t.lines[t.row]) {
					t.lines[t.row] = t.lines[t.row][:t.col]
				}
				i += 2
				continue
			}
			t.errs = append(t.errs, fmt.Sprintf("unknown escape in %q", p))
		case r < 0x20 && r != '\t':
			t.errs = append(t.errs, fmt.Sprintf("control character %q in %q", r, p))
		default:
			if t.col >= t.width {
				t.errs = append(t.errs, fmt.Sprintf("line %d wraps: %q", t.row, string(t.lines[t.row])))
			}
			line := t.lines[t.row]
			for len(line) <= t.col {
				line = append(line, ' ')
			}
			line[t.col] = r
			t.lines[t.row] = line
			t.col++
		}
	}
	return len(p), nil
}

// screen is the terminal's text, one string per line (trailing spaces and the empty line
// the cursor may be on are left out).
func (t *fakeTerm) screen() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, l := range t.lines {
		out = append(out, strings.TrimRight(string(l), " "))
	}
	if len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func (t *fakeTerm) cursor() (int, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.row, t.col
}

// testConsole is a console drawing on a fake terminal the status that set gives it.
type testConsole struct {
	*Console
	term *fakeTerm
	mu   sync.Mutex
	s    status.Snapshot
}

func newTestConsole(width int) *testConsole {
	tc := &testConsole{term: newFakeTerm(width)}
	tc.Console = New(tc.term, nil)
	tc.width = func() int { return width }
	tc.interval = time.Hour // the test redraws
	tc.snapshot = func() (status.Snapshot, bool) {
		tc.mu.Lock()
		defer tc.mu.Unlock()
		return tc.s, true
	}
	return tc
}

func (tc *testConsole) set(s status.Snapshot) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.s = s
}

func (tc *testConsole) check(t *testing.T, want ...string) {
	t.Helper()
	if got := tc.term.screen(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s\nraw: %q", strings.Join(got, "\n"), strings.Join(want, "\n"), tc.term.raw.String())
	}
	if len(tc.term.errs) > 0 {
		t.Errorf("terminal errors: %v", tc.term.errs)
	}
}

// Logs written through Writer appear above the line, each whole, and the line is drawn
// again below them; the line turns into the live view when the snapshot is done.
func TestWriterInterleaving(t *testing.T) {
	tc := newTestConsole(100)
	w := tc.Writer()
	fmt.Fprint(w, "before start\n") // passes straight through
	tc.set(sampleSnapshotting())
	tc.Start(context.Background())
	defer tc.Stop()
	tc.Redraw()
	bar := Frame(sampleSnapshotting(), 100)
	tc.check(t, "before start", bar)
	if _, col := tc.term.cursor(); col != cells(bar) {
		t.Errorf("cursor at column %d, want the end of the bar (%d)", col, cells(bar))
	}

	writes := tc.term.writes
	fmt.Fprint(w, "INFO\tfirst log line\n")
	if tc.term.writes != writes+1 {
		t.Errorf("a log line took %d writes, want 1 (a single write cannot be torn)", tc.term.writes-writes)
	}
	tc.check(t, "before start", "INFO\tfirst log line", bar)

	// A line written in pieces: the bar waits for its end.
	fmt.Fprint(w, "WARN\tpartial ")
	tc.Redraw()
	tc.check(t, "before start", "INFO\tfirst log line", "WARN\tpartial")
	fmt.Fprint(w, "line\nsecond\n")
	tc.check(t, "before start", "INFO\tfirst log line", "WARN\tpartial line", "second", bar)

	// Progress moves: the bar is redrawn in place, a shorter one leaves nothing behind.
	s := sampleSnapshotting()
	s.Snapshot.Percent = f64(50)
	s.Snapshot.Tables = s.Snapshot.Tables[:1]
	tc.set(s)
	tc.Redraw()
	bar2 := Frame(s, 100)
	tc.check(t, "before start", "INFO\tfirst log line", "WARN\tpartial line", "second", bar2)

	// The snapshot is done: its summary stays, the live line follows.
	live := sampleLive()
	tc.set(live)
	tc.Redraw()
	lines := tc.term.screen()
	if n := len(lines); n != 6 || !strings.HasPrefix(lines[4], "snapshot done: 4 tables, 1,244,000 rows in ") || lines[5] != Frame(live, 100) {
		t.Errorf("after the snapshot:\n%s", strings.Join(lines, "\n"))
	}

	// Stop leaves the line and a newline; later writes go straight through.
	tc.Stop()
	fmt.Fprint(w, "after stop\n")
	lines = tc.term.screen()
	if lines[len(lines)-2] != Frame(live, 100) || lines[len(lines)-1] != "after stop" {
		t.Errorf("after stop:\n%s", strings.Join(lines, "\n"))
	}
	if len(tc.term.errs) > 0 {
		t.Errorf("terminal errors: %v", tc.term.errs)
	}
}

// A zap logger writing through Writer while the console redraws as fast as it can: every
// log line ends up whole on a line of its own, and the bar is the last line.
func TestWriterConcurrentWithZap(t *testing.T) {
	tc := newTestConsole(120)
	tc.interval = time.Millisecond
	tc.set(sampleSnapshotting())
	enc := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{MessageKey: "msg", LevelKey: "level", EncodeLevel: zapcore.CapitalLevelEncoder})
	log := zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(tc.Writer())), zapcore.InfoLevel))
	tc.Start(context.Background())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				log.Info("message", zap.Int("g", g), zap.Int("i", i))
				if i%10 == 0 {
					s := sampleSnapshotting()
					s.Snapshot.RowsRead += int64(i)
					tc.set(s)
				}
			}
		})
	}
	wg.Wait()
	tc.Stop()
	lines := tc.term.screen()
	n := 0
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "INFO\tmessage\t{") || strings.Contains(l, "snapshot") {
			t.Errorf("garbled line %q", l)
		}
		n++
	}
	if n != 200 {
		t.Errorf("%d log lines, want 200", n)
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "snapshot [") {
		t.Errorf("last line %q", last)
	}
	if len(tc.term.errs) > 0 {
		t.Errorf("terminal errors: %v", tc.term.errs[:min(len(tc.term.errs), 5)])
	}
}

// The console reads a real tracker and starts its sampling (in a synctest bubble: its
// intervals pass in fake time).
func TestConsoleWithTracker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var st pipeline.Stats
		tr := status.NewTracker("orders", func() pipeline.Stats { return st })
		tr.SetPhase(status.PhaseRunning)
		term := newFakeTerm(80)
		c := New(term, nil)
		c.SetTracker(tr)
		c.interval = 5 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.Start(ctx)
		deadline := time.Now().Add(5 * time.Second)
		for {
			if s := term.screen(); len(s) == 1 && s[0] == "running | 0 rows/s 0 B/s" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("screen %q", term.screen())
			}
			time.Sleep(5 * time.Millisecond) // fake time (a bubble): one redraw interval
		}
		c.Stop()
		c.Stop()
		if _, err := io.WriteString(c.Writer(), "x\n"); err != nil {
			t.Fatal(err)
		}
		if s := term.screen(); len(s) != 2 || s[1] != "x" {
			t.Errorf("screen %q", s)
		}
	})
}

// Without a terminal, nothing draws: the caller checks IsTerminal.
func TestIsTerminal(t *testing.T) {
	if IsTerminal(nil) {
		t.Error("nil is a terminal")
	}
	f, err := openTemp(t)
	if err != nil {
		t.Fatal(err)
	}
	if IsTerminal(f) {
		t.Error("a file is a terminal")
	}
}
