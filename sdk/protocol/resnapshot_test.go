package protocol_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

// resnapSource is a source with the Resnapshotter ability.
type resnapSource struct {
	*scriptSource
	mu    sync.Mutex
	calls [][]string
	err   error
}

func (s *resnapSource) Resnapshot(_ context.Context, tables []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, append([]string(nil), tables...))
	return s.err
}

func TestResnapshotRoundTrip(t *testing.T) {
	sdktest.CheckGoroutines(t)
	src := &resnapSource{scriptSource: newSource()}
	s := sdktest.GRPCPair[sdk.Source](t, src)
	rs, ok := s.(sdk.Resnapshotter)
	if !ok {
		t.Fatal("the source adapter is not an sdk.Resnapshotter")
	}
	if err := s.Open(ctxT(t), sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := rs.Resnapshot(ctxT(t), []string{"shop.orders", "shop.items"}); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.err = sdk.Permanent(errors.New("oceanbase: shop.nope is not selected"))
	src.mu.Unlock()
	err := rs.Resnapshot(ctxT(t), []string{"shop.nope"})
	if err == nil || !strings.Contains(err.Error(), "shop.nope is not selected") || !sdk.IsPermanent(err) {
		t.Errorf("refused Resnapshot: err = %v, want the plugin's permanent error", err)
	}
	src.mu.Lock()
	want := [][]string{{"shop.orders", "shop.items"}, {"shop.nope"}}
	if !reflect.DeepEqual(src.calls, want) {
		t.Errorf("the plugin got %q, want %q", src.calls, want)
	}
	src.mu.Unlock()
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// A source without the ability does not advertise it: the adapter answers
// sdk.ErrNotSupported without calling it.
func TestResnapshotNotSupported(t *testing.T) {
	sdktest.CheckGoroutines(t)
	s := sdktest.GRPCPair[sdk.Source](t, newSource())
	err := s.(sdk.Resnapshotter).Resnapshot(ctxT(t), []string{"db.t"})
	if !errors.Is(err, sdk.ErrNotSupported) || !strings.Contains(err.Error(), "sdk.Resnapshotter") {
		t.Errorf("Resnapshot: err = %v, want sdk.ErrNotSupported", err)
	}
}

// countingSource returns batches numbered 1, 2, ... (the position is the number as decimal
// text); Resnapshot records how many it had returned when it was applied.
type countingSource struct {
	base
	sdk.UnimplementedSource
	mu        sync.Mutex
	n         int
	appliedAt int
	read      chan struct{} // signalled after each Read
}

func (s *countingSource) Open(context.Context, sdk.OpenRequest) error { return nil }

func (s *countingSource) Read(ctx context.Context) (*change.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	select {
	case s.read <- struct{}{}:
	default:
	}
	return &change.Batch{Position: change.Position(strconv.Itoa(s.n))}, nil
}

func (s *countingSource) Resnapshot(context.Context, []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appliedAt = s.n
	return nil
}

// Batches the plugin read ahead on the Read stream were read before the re-snapshot was in
// force: the host's Resnapshot returns only after its Read returned them, so the first batch
// the host reads afterwards was read after it (as with an in-process source, where the
// runtime relies on this to know when a checkpoint holds the re-snapshot).
func TestResnapshotOrdersReadAheadBatches(t *testing.T) {
	sdktest.CheckGoroutines(t)
	src := &countingSource{base: base{kind: sdk.KindSource}, read: make(chan struct{}, 1)}
	s := sdktest.GRPCPair[sdk.Source](t, src)
	if err := s.Open(ctxT(t), sdk.OpenRequest{}); err != nil {
		t.Fatal(err)
	}
	// the host reads slowly: the plugin keeps batches coming ahead of the calls
	got := make(chan int, 1000)
	ctx, cancel := context.WithCancel(ctxT(t))
	readErr := make(chan error, 1)
	go func() {
		for {
			b, err := s.Read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			n, _ := strconv.Atoi(string(b.Position))
			got <- n
			time.Sleep(5 * time.Millisecond) // a slow host, so that batches stay read ahead (real time: gRPC over TCP has no bubble)
		}
	}()
	// the plugin reads ahead: half the stream's window (8) beyond the host's first Read
	waitUntil(t, "the plugin reads ahead", src.read, func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.n >= 1+8/2
	})
	if err := s.(sdk.Resnapshotter).Resnapshot(ctxT(t), []string{"db.t"}); err != nil {
		t.Fatal(err)
	}
	// everything the host read so far is in got; the next one read must come after
	var last int
	for len(got) > 0 {
		last = <-got
	}
	next := <-got
	cancel()
	<-readErr
	src.mu.Lock()
	applied := src.appliedAt
	src.mu.Unlock()
	if applied < 2 {
		t.Fatalf("setup: the re-snapshot applied after %d batches; the test needs read-ahead", applied)
	}
	if next <= applied {
		t.Errorf("the host read batch %d after Resnapshot returned, but the source returned it before the re-snapshot (at %d; last read before: %d)", next, applied, last)
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
