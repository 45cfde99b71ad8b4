package protocol_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
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
