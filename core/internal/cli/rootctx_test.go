package cli

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every command runs under one signal-aware root context: SIGINT ends `ferry status` that
// waits on a server that never answers at once (its own timeout is 5s), with its error.
func TestE2ESignalEndsWaitingCommand(t *testing.T) {
	bins := e2eBins(t)
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
	}()
	cmd := exec.Command(filepath.Join(bins, "ferry"), "status", "--addr", l.Addr().String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("ferry status did not connect")
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	took := time.Since(sent)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != ExitFailure {
		t.Fatalf("exit %v after SIGINT, want code %d (an error, not killed by the signal):\n%s", err, ExitFailure, out.String())
	}
	if took > 3*time.Second {
		t.Errorf("ferry status ended %v after SIGINT, want at once (not at its 5s timeout)", took)
	}
	if !strings.Contains(out.String(), "interrupt signal received") {
		t.Errorf("output does not say it was cancelled:\n%s", out.String())
	}
}
