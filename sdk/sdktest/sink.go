package sdktest

import (
	"sync"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
)

// Sink checks a sink plugin, directly and through GRPCPair, with SampleRecords: Info and
// Spec; Write reports every record delivered, also for an empty write and from several
// lanes at once; Close returns after a failed Open; no goroutine outlives the suite.
// newSink is called for each check and should give each sink its own target (for example a
// file under t.TempDir()).
func Sink(t *testing.T, newSink func(t testing.TB) (sdk.Sink, sdk.Config)) {
	p, _ := newSink(t)
	begin(t, p)
	for _, m := range modes(newSink) {
		t.Run(m.name, func(t *testing.T) {
			t.Run("info", func(t *testing.T) {
				s, _ := m.make(t)
				checkInfo(t, s, sdk.KindSink)
			})
			t.Run("write", func(t *testing.T) {
				s := openSink(t, m)
				recs := SampleRecords()
				if n, err := s.Write(callCtx(t), recs); n != len(recs) || err != nil {
					t.Errorf("Write(%d records) = %d, %v", len(recs), n, err)
				}
				if n, err := s.Write(callCtx(t), nil); n != 0 || err != nil {
					t.Errorf("Write(nil) = %d, %v", n, err)
				}
				if err := closeWithin(t, s.Close); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			t.Run("lanes", func(t *testing.T) {
				s := openSink(t, m)
				var wg sync.WaitGroup
				for g := 0; g < concurrency; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 5; i++ {
							recs := SampleRecords()
							if n, err := s.Write(callCtx(t), recs); n != len(recs) || err != nil {
								t.Errorf("Write(%d records) = %d, %v", len(recs), n, err)
								return
							}
						}
					}()
				}
				wg.Wait()
				if err := closeWithin(t, s.Close); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			t.Run("close-after-failed-open", func(t *testing.T) {
				s, cfg := m.make(t)
				configure(t, s, cfg)
				_ = s.Open(badOpenCtx())
				_ = closeWithin(t, s.Close)
			})
		})
	}
}

func openSink(t *testing.T, m mode[sdk.Sink]) sdk.Sink {
	t.Helper()
	s, cfg := m.make(t)
	configure(t, s, cfg)
	if err := s.Open(callCtx(t)); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}
