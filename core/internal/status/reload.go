package status

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reload is the outcome of the objects block's reloads (SIGHUP or the file changed).
type Reload struct {
	// Applied and Refused count the reloads so far.
	Applied uint64 `json:"applied"`
	Refused uint64 `json:"refused"`
	// Last is "applied" or "refused", LastAt when; Error says why the last one was refused.
	Last   string    `json:"last"`
	LastAt time.Time `json:"last_at"`
	Error  string    `json:"error,omitempty"`
}

type reloads struct {
	mu sync.Mutex
	r  Reload
}

// RecordReload records a reload's outcome: err nil applied, else refused (the running
// selection stays). /status shows it under "reload", /metrics as ferry_reloads_total{result}
// and ferry_reload_refused (1 while the last reload was refused).
func (t *Tracker) RecordReload(err error, at time.Time) {
	t.reload.mu.Lock()
	defer t.reload.mu.Unlock()
	r := &t.reload.r
	r.LastAt = at
	if err == nil {
		r.Applied++
		r.Last, r.Error = "applied", ""
		return
	}
	r.Refused++
	r.Last, r.Error = "refused", err.Error()
}

// reloadStatus returns the reloads' outcome, nil before the first.
func (t *Tracker) reloadStatus() *Reload {
	t.reload.mu.Lock()
	defer t.reload.mu.Unlock()
	if t.reload.r.Last == "" {
		return nil
	}
	r := t.reload.r
	return &r
}

func reloadCollectors(t *Tracker, labels prometheus.Labels) []prometheus.Collector {
	count := func(result string, f func(Reload) uint64) prometheus.Collector {
		l := prometheus.Labels{"result": result}
		for k, v := range labels {
			l[k] = v
		}
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ferry_reloads_total",
			Help: "Reloads of the objects block, by result (applied or refused).", ConstLabels: l},
			func() float64 {
				t.reload.mu.Lock()
				defer t.reload.mu.Unlock()
				return float64(f(t.reload.r))
			})
	}
	return []prometheus.Collector{
		count("applied", func(r Reload) uint64 { return r.Applied }),
		count("refused", func(r Reload) uint64 { return r.Refused }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ferry_reload_refused", ConstLabels: labels,
			Help: "1 while the last reload of the objects block was refused (the previous selection runs)."},
			func() float64 {
				t.reload.mu.Lock()
				defer t.reload.mu.Unlock()
				if t.reload.r.Last == "refused" {
					return 1
				}
				return 0
			}),
	}
}
