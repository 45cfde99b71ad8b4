package status

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
)

// A refused reload shows in /status and /metrics, not only in the log.
func TestReloadInStatusAndMetrics(t *testing.T) {
	tr := NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	if strings.Contains(get(t, srv, "/status"), `"reload"`) {
		t.Error("reload shown before any")
	}
	tr.RecordReload(nil, time.Now())
	tr.RecordReload(errors.New("p.hcl:8:17: Invalid row filter"), time.Now())
	var s Snapshot
	if err := json.Unmarshal([]byte(get(t, srv, "/status")), &s); err != nil {
		t.Fatal(err)
	}
	if r := s.Reload; r == nil || r.Last != "refused" || r.Applied != 1 || r.Refused != 1 || !strings.Contains(r.Error, "p.hcl:8:17") {
		t.Errorf("reload = %+v", s.Reload)
	}
	m := get(t, srv, "/metrics")
	for _, want := range []string{`ferry_reloads_total{pipeline="p",result="refused"} 1`, `ferry_reloads_total{pipeline="p",result="applied"} 1`, `ferry_reload_refused{pipeline="p"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, m)
		}
	}
	tr.RecordReload(nil, time.Now())
	if m := get(t, srv, "/metrics"); !strings.Contains(m, `ferry_reload_refused{pipeline="p"} 0`) {
		t.Errorf("refused gauge not cleared:\n%s", m)
	}
}
