package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ferry-cdc/ferry/core/internal/checkpoint"
	"github.com/ferry-cdc/ferry/sdk"
)

// flakySink fails its first fails Opens with err.
type flakySink struct {
	*fakeSink
	fails int
	err   error
	mu    sync.Mutex
	calls int
}

func (s *flakySink) Open(ctx context.Context) error {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	s.opened.Add(1)
	if n <= s.fails {
		return s.err
	}
	return nil
}

// flakySource fails its first fails Opens with err (fails < 0: every Open).
type flakySource struct {
	*fakeSource
	fails int
	err   func() error
}

func (s *flakySource) Open(ctx context.Context, req sdk.OpenRequest) error {
	n := int(s.openCalls.Add(1))
	if s.fails < 0 || n <= s.fails {
		return s.err()
	}
	s.openCalls.Add(-1) // fakeSource.Open counts again
	return s.fakeSource.Open(ctx, req)
}

var fastStartup = RetryPolicy{Initial: time.Millisecond, Max: 5 * time.Millisecond}

func refused(addr string) error {
	return fmt.Errorf("connect: %w", &net.OpError{Op: "dial", Net: "tcp", Addr: mustAddr(addr), Err: errors.New("connection refused")})
}

func mustAddr(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

// waits records what OnWaiting reports.
type waits struct {
	mu  sync.Mutex
	all []*Waiting
}

func (w *waits) on(x *Waiting) { w.mu.Lock(); w.all = append(w.all, x); w.mu.Unlock() }

func (w *waits) get() []*Waiting {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*Waiting(nil), w.all...)
}

func TestStartupWaitSinkComesUp(t *testing.T) {
	src := newFakeSource(50, 10, 5)
	rec := newRecorder()
	sink := &flakySink{fakeSink: newFakeSink(rec), fails: 3, err: refused("127.0.0.1:14199")}
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
	cfg.Logger = zap.New(core)
	cfg.StartupWait, cfg.StartupRetry = time.Minute, fastStartup
	var w waits
	cfg.OnWaiting = w.on
	if _, err := runPipeline(t, context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	assertAllOnce(t, rec, 50, nil)
	if got := sink.opened.Load(); got != 4 {
		t.Errorf("sink opened %d times, want 4", got)
	}
	// Close only once, at the end: Open may be called again after a failed Open
	if got := sink.closed.Load(); got != 1 {
		t.Errorf("sink closed %d times, want 1", got)
	}
	got := w.get()
	if len(got) != 4 || got[3] != nil {
		t.Fatalf("OnWaiting got %d calls (%v), want 3 waits and a nil", len(got), got)
	}
	for i, x := range got[:3] {
		if x.Stage != "sink" || x.Plugin != "fake" || x.Attempt != i+1 || x.Address != "127.0.0.1:14199" || x.Err == nil ||
			!x.Next.Before(x.Until) {
			t.Errorf("wait %d: %+v", i, x)
		}
	}
	warns := logs.FilterMessageSnippet("waiting for the sink to open").All()
	if len(warns) != 3 {
		t.Fatalf("%d warnings, want 3: %v", len(warns), logs.All())
	}
	f := warns[0].ContextMap()
	if warns[0].Level != zapcore.WarnLevel || f["plugin"] != "fake" || f["address"] != "127.0.0.1:14199" || f["attempt"] != int64(1) ||
		f["next_retry_in"] == nil || f["error"] == nil {
		t.Errorf("warning %v %v", warns[0].Level, f)
	}
	if logs.FilterMessage("opened after waiting").Len() != 1 {
		t.Error("no line says the sink opened after waiting")
	}
}

func TestStartupWaitSourceComesUp(t *testing.T) {
	src := &flakySource{fakeSource: newFakeSource(20, 10, 5), fails: 2,
		err: func() error { return errors.New("dial tcp db.example.com:3306: i/o timeout") }}
	rec := newRecorder()
	sink := newFakeSink(rec)
	cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
	cfg.StartupWait, cfg.StartupRetry = time.Minute, fastStartup
	var w waits
	cfg.OnWaiting = w.on
	if _, err := runPipeline(t, context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	assertAllOnce(t, rec, 20, nil)
	if got := src.openCalls.Load(); got != 3 {
		t.Errorf("source opened %d times, want 3", got)
	}
	if sink.opened.Load() != 1 {
		t.Errorf("the sink was opened %d times: it stays open while the source is waited for", sink.opened.Load())
	}
	if got := w.get(); len(got) != 3 || got[0].Stage != "source" || got[0].Address != "db.example.com:3306" {
		t.Errorf("waits %v", got)
	}
}

func TestStartupWaitGivesUp(t *testing.T) {
	src := &flakySource{fakeSource: newFakeSource(20, 10, 5), fails: -1,
		err: func() error { return refused("127.0.0.1:14198") }}
	rec := newRecorder()
	sink := newFakeSink(rec)
	cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
	cfg.StartupWait, cfg.StartupRetry = 100*time.Millisecond, RetryPolicy{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}
	var w waits
	cfg.OnWaiting = w.on
	start := time.Now()
	_, err := runPipeline(t, context.Background(), cfg)
	if err == nil || !strings.HasPrefix(err.Error(), `source "fake": open: connect: dial tcp 127.0.0.1:14198: connection refused`) {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("gave up after %s, before the wait was over", d)
	}
	if n := src.openCalls.Load(); n < 3 {
		t.Errorf("%d attempts in 100ms at 10-20ms apart", n)
	}
	if src.closed.Load() != 1 || sink.closed.Load() != 1 {
		t.Errorf("closed: source %d of %d opens, sink %d", src.closed.Load(), src.openCalls.Load(), sink.closed.Load())
	}
	if got := w.get(); len(got) < 2 || got[len(got)-1] != nil {
		t.Errorf("OnWaiting did not end with nil: %v", got)
	}
}

func TestStartupWaitNotForPermanentErrors(t *testing.T) {
	for name, mk := range map[string]func() error{
		"permanent": func() error { return sdk.Permanent(errors.New("access denied for user 'ferry'")) },
		"crashed":   func() error { return crashLike{} },
		"panic":     func() error { panic("boom") },
		"cancelled": func() error { return context.Canceled },
		"invalid":   func() error { return fmt.Errorf("%w: bad", ErrInvalidConfig) },
		"attribute": func() error { return fmt.Errorf("open: %w", sdk.AttrError("address", "no port")) },
	} {
		t.Run(name, func(t *testing.T) {
			src := &flakySource{fakeSource: newFakeSource(20, 10, 5), fails: -1, err: mk}
			rec := newRecorder()
			cfg := baseConfig(t, src, newFakeSink(rec), newCheckingStore(t, rec))
			cfg.StartupWait, cfg.StartupRetry = time.Hour, fastStartup
			var w waits
			cfg.OnWaiting = w.on
			if _, err := runPipeline(t, context.Background(), cfg); err == nil {
				t.Fatal("no error")
			}
			if n := src.openCalls.Load(); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
			if len(w.get()) != 0 {
				t.Errorf("waited: %v", w.get())
			}
		})
	}
}

// crashLike is marked permanent the way plugin.CrashError is.
type crashLike struct{}

func (crashLike) Error() string   { return `source plugin "x" crashed` }
func (crashLike) Permanent() bool { return true }

func TestStartupWaitZeroDoesNotWait(t *testing.T) {
	src := &flakySource{fakeSource: newFakeSource(20, 10, 5), fails: -1, err: func() error { return refused("127.0.0.1:14197") }}
	rec := newRecorder()
	cfg := baseConfig(t, src, newFakeSink(rec), newCheckingStore(t, rec))
	cfg.StartupRetry = fastStartup
	if _, err := runPipeline(t, context.Background(), cfg); err == nil {
		t.Fatal("no error")
	}
	if n := src.openCalls.Load(); n != 1 {
		t.Errorf("%d attempts without a startup wait, want 1", n)
	}
}

func TestStartupWaitEndsOnCancel(t *testing.T) {
	rec := newRecorder()
	sink := &flakySink{fakeSink: newFakeSink(rec), fails: 1 << 30, err: refused("127.0.0.1:14196")}
	cfg := baseConfig(t, newFakeSource(20, 10, 5), sink, checkpoint.NewMemoryStore())
	cfg.StartupWait, cfg.StartupRetry = time.Hour, RetryPolicy{Initial: time.Hour}
	waiting := make(chan struct{})
	var once sync.Once
	var w waits
	cfg.OnWaiting = func(x *Waiting) {
		w.on(x)
		if x != nil {
			once.Do(func() { close(waiting) })
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-waiting
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want a clean stop", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end when the context was cancelled")
	}
	if got := w.get(); len(got) != 2 || got[1] != nil {
		t.Errorf("waits %v", got)
	}
	if sink.closed.Load() != 1 { // once, when Run ends
		t.Errorf("sink closed %d times", sink.closed.Load())
	}
}

func TestErrorAddress(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{refused("10.0.0.7:9876"), "10.0.0.7:9876"},
		{errors.New(`rocketmq sink: topic ferry: dial tcp 127.0.0.1:14150: connect: connection refused`), "127.0.0.1:14150"},
		{errors.New(`oceanbase: connect to ob.internal:2881 as root: dial tcp [::1]:2881: connection refused`), "[::1]:2881"},
		{errors.New(`dial tcp localhost:3306: connect: connection refused`), "localhost:3306"},
		{errors.New(`Error 1045 (28000): Access denied`), ""},
		{errors.New(`attempt:3 failed at 12:30:01`), ""},
		{nil, ""},
	} {
		if got := ErrorAddress(tc.err); got != tc.want {
			t.Errorf("ErrorAddress(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestNewRefusesNegativeStartupWait(t *testing.T) {
	rec := newRecorder()
	cfg := baseConfig(t, newFakeSource(1, 1, 1), newFakeSink(rec), checkpoint.NewMemoryStore())
	cfg.StartupWait = -time.Second
	if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New = %v", err)
	}
}
