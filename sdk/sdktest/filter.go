package sdktest

import (
	"sync"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// concurrency is how many goroutines the suites call a plugin from at once.
const concurrency = 4

// Filter checks a filter plugin, directly and through GRPCPair, on SampleChanges: Info and
// Spec; the kept changes are in input order; through gRPC it keeps (and modifies) exactly
// what it does directly, every value surviving the round trip, also with calls from several
// goroutines; an empty input gives an empty output; no goroutine outlives the suite.
func Filter(t *testing.T, newFilter func(t testing.TB) (sdk.Filter, sdk.Config)) {
	p, _ := newFilter(t)
	begin(t, p)
	direct := func(t *testing.T) []*change.Change {
		f, cfg := newFilter(t)
		configure(t, f, cfg)
		out, err := f.Filter(callCtx(t), SampleChanges())
		if err != nil {
			t.Fatalf("Filter: %v", err)
		}
		return out
	}
	for _, m := range modes(newFilter) {
		t.Run(m.name, func(t *testing.T) {
			t.Run("info", func(t *testing.T) {
				f, _ := m.make(t)
				checkInfo(t, f, sdk.KindFilter)
			})
			t.Run("order", func(t *testing.T) {
				f, cfg := m.make(t)
				configure(t, f, cfg)
				in := SampleChanges()
				out, err := f.Filter(callCtx(t), in)
				if err != nil {
					t.Fatalf("Filter: %v", err)
				}
				if !isSubsequence(SampleChanges(), out) {
					t.Errorf("the kept changes are not in input order: %v", changeIDs(out))
				}
			})
			t.Run("empty", func(t *testing.T) {
				f, cfg := m.make(t)
				configure(t, f, cfg)
				out, err := f.Filter(callCtx(t), nil)
				if err != nil || len(out) != 0 {
					t.Errorf("Filter(nil) = %d changes, %v; want none", len(out), err)
				}
			})
			if !m.grpc {
				return
			}
			t.Run("same-as-direct", func(t *testing.T) {
				want := direct(t)
				f, cfg := m.make(t)
				configure(t, f, cfg)
				var wg sync.WaitGroup
				for g := 0; g < concurrency; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 5; i++ {
							got, err := f.Filter(callCtx(t), SampleChanges())
							if err != nil {
								t.Errorf("Filter: %v", err)
								return
							}
							if d := DiffChanges(want, got); d != "" {
								t.Errorf("through gRPC the filter's output differs from its direct output:\n%s", d)
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		})
	}
}

func changeIDs(cs []*change.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
