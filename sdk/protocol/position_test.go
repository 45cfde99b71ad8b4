package protocol_test

import (
	"errors"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
	exsource "github.com/ferry-cdc/ferry/sdk/examples/source"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

// A source's sdk.PositionDescriber answers through the protocol; a source without it gives
// sdk.ErrNotSupported.
func TestDescribePositionRoundTrip(t *testing.T) {
	s := sdktest.GRPCPair[sdk.Source](t, exsource.New())
	if err := s.Configure(ctxT(t), sdk.NewConfig(nil)); err != nil {
		t.Fatal(err)
	}
	pd, ok := s.(sdk.PositionDescriber)
	if !ok {
		t.Fatal("the source adapter is not an sdk.PositionDescriber")
	}
	text, err := pd.DescribePosition(ctxT(t), exsource.Position(42))
	if err != nil || text != "change 42" {
		t.Errorf("DescribePosition = %q, %v; want \"change 42\"", text, err)
	}
	if _, err := pd.DescribePosition(ctxT(t), []byte("xyz")); err == nil {
		t.Error("a foreign position was described")
	}

	plain := sdktest.GRPCPair[sdk.Source](t, newSource())
	_, err = plain.(sdk.PositionDescriber).DescribePosition(ctxT(t), exsource.Position(1))
	if !errors.Is(err, sdk.ErrNotSupported) {
		t.Errorf("source without the ability: %v, want sdk.ErrNotSupported", err)
	}
}
