package sdktest

import (
	"sync"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
)

// Serializer checks a serializer plugin, directly and through GRPCPair, on SampleChanges
// (which it must accept, giving zero or more records per change): Info and Spec; records
// follow their changes' order and name valid change indexes; records are appended to the
// out slice; through gRPC it gives exactly the records it gives directly, also from several
// goroutines at once; an empty input gives no records; no goroutine outlives the suite.
func Serializer(t *testing.T, newSerializer func(t testing.TB) (sdk.Serializer, sdk.Config)) {
	p, _ := newSerializer(t)
	begin(t, p)
	direct := func(t *testing.T) []sdk.Record {
		s, cfg := newSerializer(t)
		configure(t, s, cfg)
		out, err := s.Serialize(callCtx(t), SampleChanges(), nil)
		if err != nil {
			t.Fatalf("Serialize: %v", err)
		}
		return out
	}
	for _, m := range modes(newSerializer) {
		t.Run(m.name, func(t *testing.T) {
			t.Run("info", func(t *testing.T) {
				s, _ := m.make(t)
				checkInfo(t, s, sdk.KindSerializer)
			})
			t.Run("order-append", func(t *testing.T) {
				s, cfg := m.make(t)
				configure(t, s, cfg)
				in := SampleChanges()
				sentinel := sdk.Record{Change: -1, Key: "sentinel"}
				out, err := s.Serialize(callCtx(t), in, []sdk.Record{sentinel})
				if err != nil {
					t.Fatalf("Serialize: %v", err)
				}
				if len(out) == 0 || out[0].Key != "sentinel" {
					t.Fatalf("Serialize did not append to out: %+v", out)
				}
				if len(out) == 1 {
					t.Fatalf("Serialize gave no records for %d changes", len(in))
				}
				last := 0
				for i, r := range out[1:] {
					if r.Change < last || r.Change >= len(in) {
						t.Errorf("record %d is for change %d after change %d of %d", i, r.Change, last, len(in))
					}
					last = r.Change
				}
			})
			t.Run("empty", func(t *testing.T) {
				s, cfg := m.make(t)
				configure(t, s, cfg)
				out, err := s.Serialize(callCtx(t), nil, nil)
				if err != nil || len(out) != 0 {
					t.Errorf("Serialize(nil) = %d records, %v; want none", len(out), err)
				}
			})
			if !m.grpc {
				return
			}
			t.Run("same-as-direct", func(t *testing.T) {
				want := direct(t)
				s, cfg := m.make(t)
				configure(t, s, cfg)
				var wg sync.WaitGroup
				for g := 0; g < concurrency; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 5; i++ {
							got, err := s.Serialize(callCtx(t), SampleChanges(), nil)
							if err != nil {
								t.Errorf("Serialize: %v", err)
								return
							}
							if d := DiffRecords(want, got); d != "" {
								t.Errorf("through gRPC the serializer's output differs from its direct output:\n%s", d)
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
