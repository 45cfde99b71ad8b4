package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/pipeline"
)

func TestWaitingPhase(t *testing.T) {
	tr := NewTracker("p", func() pipeline.Stats { return pipeline.Stats{} })
	tr.SetPhase(PhaseRunning)
	now := time.Now()
	tr.SetWaiting(&Waiting{For: `sink "rocketmq"`, Address: "127.0.0.1:9876", What: "open", Attempt: 1,
		Error: "connection refused", NextAttemptAt: now.Add(time.Second), GiveUpAt: now.Add(time.Minute)})
	tr.SetWaiting(&Waiting{For: `sink "rocketmq"`, Address: "127.0.0.1:9876", What: "open", Attempt: 2,
		Error: "connection refused", NextAttemptAt: now.Add(2 * time.Second), GiveUpAt: now.Add(time.Minute)})
	s := tr.Snapshot()
	if s.Phase != PhaseWaiting || s.Waiting == nil || s.Waiting.Attempt != 2 {
		t.Fatalf("while waiting: phase %q, waiting %+v", s.Phase, s.Waiting)
	}
	b, _ := json.Marshal(s)
	for _, want := range []string{`"phase":"waiting"`, `"waiting":{"for":"sink \"rocketmq\"","address":"127.0.0.1:9876","what":"open","attempt":2`,
		`"next_attempt_at"`, `"give_up_at"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/status lacks %s: %s", want, b)
		}
	}
	tr.SetWaiting(nil)
	if s := tr.Snapshot(); s.Phase != PhaseRunning || s.Waiting != nil {
		t.Errorf("after the wait: phase %q (want the phase before it), waiting %+v", s.Phase, s.Waiting)
	}
	// A phase set meanwhile (a signal: stopping) is kept.
	tr.SetWaiting(&Waiting{For: "x", Attempt: 1})
	tr.SetPhase(PhaseStopping)
	tr.SetWaiting(nil)
	if s := tr.Snapshot(); s.Phase != PhaseStopping || s.Waiting != nil {
		t.Errorf("phase %q, waiting %+v", s.Phase, s.Waiting)
	}
}
