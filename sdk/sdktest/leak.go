package sdktest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// leakGrace is how long CheckGoroutines waits for goroutines to end.
const leakGrace = 5 * time.Second

// CheckGoroutines counts the running goroutines now and, when the test ends (after the
// cleanups registered later, such as GRPCPair's), fails it if more are still running after
// a grace period of 5s. Tests that use it must not run in parallel with others.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(leakGrace)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d running before, %d after %s:\n%s", before, n, leakGrace, strings.TrimSpace(string(buf)))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
