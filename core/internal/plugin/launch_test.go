package plugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ferry-cdc/ferry/sdk"
)

// B9: a plugin behind a wrapper script whose child keeps stdout open and never answers the
// handshake does not hang the host: Load gives up after HandshakeTimeout, says what it
// waits for while it waits, and Close returns. B13: that is not called a crash, and the
// never-started plugin is not said to have "failed to exit gracefully".
func TestLoadHandshakeTimeoutWrapperScript(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "ferry-sink-slow")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	reg, err := BuiltinRegistry()
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{Registry: reg, Logger: zap.New(core), HandshakeTimeout: 1500 * time.Millisecond, waitReport: 300 * time.Millisecond}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := h.Load(context.Background(), Ref{Kind: sdk.KindSink, Name: "slow", Path: script})
		h.Close()
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Load and Close still waiting after 20s")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s", took)
	}
	if err == nil || !errors.Is(err, ErrLaunch) || errors.Is(err, ErrCrashed) || strings.Contains(err.Error(), "crashed") {
		t.Fatalf("err = %v, want a launch error that is no crash", err)
	}
	if !strings.Contains(err.Error(), "handshake") || !strings.Contains(err.Error(), "1.5s") {
		t.Errorf("err = %v: does not say the handshake timed out after 1.5s", err)
	}
	if n := logs.FilterMessageSnippet("waiting for the plugin to answer the handshake").Len(); n == 0 {
		t.Errorf("nothing said while waiting: %v", logs.All())
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("failed to exit gracefully").Len(); n != 0 {
		t.Errorf(`"failed to exit gracefully" logged for a plugin that never started`)
	}
}

// B13: an executable that serves another kind is reported as such, not as a crash.
func TestLoadWrongKindIsNoCrash(t *testing.T) {
	h := testHost(t, nil)
	dir := bins(t)
	_, err := h.Load(context.Background(), Ref{Kind: sdk.KindSource, Name: "file", Path: filepath.Join(dir, "ferry-sink-file")})
	if err == nil || errors.Is(err, ErrCrashed) || strings.Contains(err.Error(), "crashed") {
		t.Fatalf("err = %v, want no crash", err)
	}
	if !strings.Contains(err.Error(), "does not serve the source protocol") {
		t.Errorf("err = %v", err)
	}
}
