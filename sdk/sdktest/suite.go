package sdktest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// callTimeout bounds each plugin call the suites make.
const callTimeout = 30 * time.Second

// mode is one way of running a plugin: directly, or through GRPCPair.
type mode[T sdk.Plugin] struct {
	name string
	grpc bool
	make func(t testing.TB) (T, sdk.Config)
}

func modes[T sdk.Plugin](newPlugin func(t testing.TB) (T, sdk.Config)) []mode[T] {
	return []mode[T]{
		{name: "direct", make: newPlugin},
		{name: "grpc", grpc: true, make: func(t testing.TB) (T, sdk.Config) {
			p, cfg := newPlugin(t)
			return GRPCPair[T](t, p), cfg
		}},
	}
}

// begin warms up the gRPC machinery (whose first use starts goroutines that live on) and
// then starts the goroutine leak check for the suite.
func begin(t *testing.T, p sdk.Plugin) {
	t.Helper()
	t.Run("warm-up", func(t *testing.T) { GRPCPair[sdk.Plugin](t, p) })
	CheckGoroutines(t)
}

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

func configure(t testing.TB, p sdk.Plugin, cfg sdk.Config) {
	t.Helper()
	if err := p.Configure(callCtx(t), cfg); err != nil {
		t.Fatalf("Configure(%s): %v", cfg.JSON(), err)
	}
}

func checkInfo(t *testing.T, p sdk.Plugin, kind sdk.Kind) {
	t.Helper()
	info := p.Info()
	if info.Kind != kind {
		t.Errorf("Info().Kind = %q, want %q", info.Kind, kind)
	}
	if info.Name == "" || info.Version == "" || info.Summary == "" {
		t.Errorf("Info() = %+v: name, version and summary are needed", info)
	}
	spec := p.Spec()
	if err := spec.Validate(); err != nil {
		t.Errorf("Spec().Validate(): %v", err)
	}
	for _, a := range spec.Attributes {
		if a.Doc == "" {
			t.Errorf("attribute %q has no Doc", a.Name)
		}
	}
}

// closeWithin calls close and fails the test if it does not return in time.
func closeWithin(t *testing.T, close func(context.Context) error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- close(callCtx(t)) }()
	select {
	case err := <-done:
		return err
	case <-time.After(callTimeout):
		t.Fatal("Close did not return")
		return nil
	}
}

// badOpenCtx is an already cancelled context, to make Open fail.
func badOpenCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// isSubsequence reports whether the ids of got appear in want's order.
func isSubsequence(want, got []*change.Change) bool {
	j := 0
	for _, g := range got {
		for j < len(want) && want[j].ID != g.ID {
			j++
		}
		if j == len(want) {
			return false
		}
		j++
	}
	return true
}
