//go:build integration

package integration

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// TestHAFailover: three `ferry run` of one pipeline share a checkpoint store (etcd, and a
// table in MariaDB); the active one is killed with -9 again and again under load, each time
// after 1 to 3 s. One of the others must take over within the lease time (+ 2 s), and the
// verifier must find nothing lost, nothing reordered, and no queue where two writers
// interleave. Short in make test (3 failovers per store at ~1,000 changes/s);
// FERRY_CHAOS=full (make test-chaos): 20 failovers at 5,000 changes/s.
func TestHAFailover(t *testing.T) {
	defer printSummaries(t)
	for _, store := range []string{"etcd", "mysql"} {
		t.Run(store, func(t *testing.T) { haKill9(t, store) })
	}
}

func haKill9(t *testing.T, store string) {
	kills := *chaosKills
	if kills == 0 {
		kills = pick(3, 20)
	}
	lease := 4 * time.Second
	b := newHABed(t, haOpts{Name: "ha-kill9-" + store, Store: store, Procs: 3, Rows: pick(2000, 10000),
		Rate: pick(1000.0, 5000.0), LeaseTime: lease})
	b.startAll()
	active := b.waitActive(60*time.Second, nil)
	active.waitWritten(1, 60*time.Second)
	b.startWorkload()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var took, leased []time.Duration
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(1000+rng.Intn(2000)) * time.Millisecond)
		// every other process must be a standby, saying so
		for _, p := range b.procs {
			if p != active {
				if ph := p.phase(); ph != "standby" {
					t.Errorf("failover %d: process %d is %q, want standby", i+1, p.idx, ph)
				}
			}
		}
		st, _ := active.status()
		killed := time.Now()
		active.kill()
		next, d := b.waitWriting(active, killed, lease+30*time.Second)
		if next == nil {
			t.Fatalf("failover %d: no process took over", i+1)
		}
		took, leased = append(took, d), append(leased, b.lastReady)
		t.Logf("failover %d: process %d killed after %d records, process %d holds the lease after %v and writes after %v (workload %d changes, %.0f/s)",
			i+1, active.idx, st.RecordsWritten, next.idx, b.lastReady.Round(time.Millisecond), d.Round(time.Millisecond), b.wl.Committed(), b.rate())
		if d > lease+time.Second {
			t.Logf("failover %d was slow: log of process %d since the kill:\n%s", i+1, next.idx, next.logSince(killed, 40))
		}
		b.start(active.idx) // back as a standby
		active = b.waitActive(10*time.Second, nil)
		if active != next {
			t.Fatalf("failover %d: process %d is ready, but %d writes", i+1, active.idx, next.idx)
		}
	}
	time.Sleep(2 * time.Second)
	rate := b.rate() // while the workload ran (finishHA stops it)
	b.finishHA(pick[time.Duration](3, 6) * time.Minute)
	p50, maxD := durationStats(took)
	l50, lmax := durationStats(leased)
	summary := fmt.Sprintf("%s store: %d failovers by kill -9 at %.0f changes/s (lease %v): failover (kill to the first record written) p50 %v, max %v; lease taken p50 %v, max %v",
		store, kills, rate, lease, p50.Round(time.Millisecond), maxD.Round(time.Millisecond), l50.Round(time.Millisecond), lmax.Round(time.Millisecond))
	t.Log(summary)
	if maxD > lease+2*time.Second {
		t.Errorf("%s: slowest failover %v, more than the lease time %v + 2s", store, maxD, lease)
	}
}

// rate is the workload's mean rate so far.
func (b *haBed) rate() float64 {
	if b.wlStart.IsZero() {
		return 0
	}
	return float64(b.wl.Committed()) / time.Since(b.wlStart).Seconds()
}
