package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

// scopedSink declares the order scope its configuration asks for.
type scopedSink struct {
	*recordingSink
	scope sdk.OrderScope
}

func (s *scopedSink) Configure(_ context.Context, cfg sdk.Config) error {
	var c struct {
		Scope string `json:"scope"`
	}
	err := cfg.Decode(&c)
	s.scope = sdk.OrderScope(c.Scope)
	return err
}

func (s *scopedSink) OrderScope() sdk.OrderScope { return s.scope }

func TestSinkOrderScopeCrossesConfigure(t *testing.T) {
	for _, scope := range []sdk.OrderScope{sdk.OrderAll, sdk.OrderTable, sdk.OrderKey} {
		s := sdktest.GRPCPair[sdk.Sink](t, &scopedSink{recordingSink: newSink()})
		os, ok := s.(sdk.OrderScoper)
		if !ok {
			t.Fatal("the protocol's sink client is not an sdk.OrderScoper")
		}
		if got := os.OrderScope(); got != sdk.OrderKey {
			t.Errorf("before Configure: scope %q, want key", got)
		}
		if err := s.Configure(ctxT(t), sdk.NewConfig([]byte(fmt.Sprintf(`{"scope":%q}`, scope)))); err != nil {
			t.Fatal(err)
		}
		if got := os.OrderScope(); got != scope {
			t.Errorf("scope %q, want %q", got, scope)
		}
	}
	// A sink without the ability: key.
	s := sdktest.GRPCPair[sdk.Sink](t, newSink())
	if err := s.Configure(ctxT(t), sdk.NewConfig([]byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	if got := s.(sdk.OrderScoper).OrderScope(); got != sdk.OrderKey {
		t.Errorf("plain sink: scope %q, want key", got)
	}
}

func TestSinkTooLargeCrossesTheWire(t *testing.T) {
	sink := newSink()
	s := sdktest.GRPCPair[sdk.Sink](t, sink)
	if err := s.Open(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	sink.write = func(_ context.Context, rs []sdk.Record) (int, error) {
		return 2, sdk.TooLarge(2, 5000, 4096, fmt.Errorf("sink: %w: the message for shop.orders key \"7\" is 5000 bytes", errors.New("too large")))
	}
	recs := sdktest.SampleRecords()
	n, err := s.Write(ctxT(t), recs)
	tl, ok := sdk.AsTooLarge(err)
	if n != 2 || !ok {
		t.Fatalf("Write = %d, %v; want 2 and an sdk.TooLargeError", n, err)
	}
	if tl.Index != 2 || tl.Size != 5000 || tl.Limit != 4096 || !sdk.IsPermanent(err) {
		t.Errorf("got %+v (permanent %v)", tl, sdk.IsPermanent(err))
	}
	if err.Error() != `sink: too large: the message for shop.orders key "7" is 5000 bytes` {
		t.Errorf("text %q", err.Error())
	}
	// A plain permanent error does not become a TooLargeError.
	sink.write = func(_ context.Context, rs []sdk.Record) (int, error) {
		return 0, sdk.Permanent(errors.New("denied"))
	}
	_, err = s.Write(ctxT(t), recs)
	if _, ok := sdk.AsTooLarge(err); ok || !sdk.IsPermanent(err) {
		t.Errorf("plain permanent error: %v (too large %v)", err, ok)
	}
}
