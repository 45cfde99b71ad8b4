package status

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
)

// /readyz and the lease gauges follow the role: the active with an open fence is ready and
// counts 1; a standby, a fenced active or a pipeline that is not running is 503 and 0.
func TestReadyAndLeaseMetrics(t *testing.T) {
	tr := NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	metric := func(name string) string {
		t.Helper()
		_, body := get("/metrics")
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, name+"{") {
				return line[strings.LastIndex(line, " ")+1:]
			}
		}
		t.Fatalf("/metrics lacks %s", name)
		return ""
	}
	check := func(what string, wantReady bool, wantActive string) {
		t.Helper()
		code, body := get("/readyz")
		if (code == http.StatusOK) != wantReady {
			t.Errorf("%s: /readyz = %d %q, want ready=%v", what, code, body, wantReady)
		}
		if got := metric("ferry_lease_active"); got != wantActive {
			t.Errorf("%s: ferry_lease_active = %s, want %s", what, got, wantActive)
		}
	}

	check("starting, file store", false, "0")
	tr.SetPhase(PhaseRunning)
	check("running, file store", true, "1")

	tr.SetLease(&Lease{Store: "etcd x", Role: RoleStandby, LeaseTime: 4})
	check("standby", false, "0")

	deadline := time.Now().Add(time.Hour)
	tr.SetLease(&Lease{Store: "etcd x", Role: RoleActive, LeaseTime: 4, Deadline: func() time.Time { return deadline }})
	tr.SetPhase(PhaseRunning)
	check("active", true, "1")
	if got, _ := strconv.ParseFloat(metric("ferry_lease_fence_seconds"), 64); got < 3500 || got > 3600 {
		t.Errorf("ferry_lease_fence_seconds = %v, want about 3600", got)
	}
	deadline = time.Now().Add(-time.Second)
	check("active, fenced", false, "0")
	if got := metric("ferry_lease_fence_seconds"); got != "0" {
		t.Errorf("ferry_lease_fence_seconds when fenced = %s, want 0", got)
	}
}
