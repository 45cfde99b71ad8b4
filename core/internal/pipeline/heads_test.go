package pipeline

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// headSerializer gives every record the same shared Head (a schema written once), the way
// the debezium format does, and the change id as the rest of its body.
type headSerializer struct {
	fakeSerializer
	head []byte
}

func (f *headSerializer) Serialize(_ context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	for i, c := range changes {
		if c.Op != change.OpHeartbeat {
			out = append(out, sdk.Record{Change: i, Head: f.head, Value: []byte(c.ID)})
		}
	}
	return out, nil
}

// headSink is a fakeSink that writes heads itself (sdk.SharedHeads).
type headSink struct{ *fakeSink }

func (headSink) SharedHeads() bool { return true }

// A sink that declares sdk.SharedHeads gets the serializer's heads as they are; any other
// sink gets each body whole in Value, and the byte count is the bodies' either way.
func TestRecordHeadsReachOnlySinksThatWriteThem(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := "joined"
		if shared {
			name = "shared"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const total = 500
				head := []byte(`{"schema":{"type":"struct"},"payload":`)
				src := newFakeSource(total, 50, 100)
				rec := newRecorder()
				fs := newFakeSink(rec)
				var sink sdk.Sink = fs
				if shared {
					sink = headSink{fs}
				}
				var mu sync.Mutex
				var bodyBytes uint64
				var bad []string
				fs.behave = func(_ context.Context, _ int64, recs []sdk.Record) (int, error) {
					mu.Lock()
					defer mu.Unlock()
					for i := range recs {
						r := &recs[i]
						bodyBytes += uint64(r.BodyLen())
						switch {
						case string(r.Body()) != string(head)+r.ChangeID:
							bad = append(bad, "body "+string(r.Body()))
						case shared && (len(r.Head) == 0 || &r.Head[0] != &head[0]):
							bad = append(bad, "the shared head did not reach the sink that writes heads: "+string(r.Value))
						case !shared && len(r.Head) != 0:
							bad = append(bad, "a head reached a sink that does not write heads: "+string(r.Value))
						}
					}
					return len(recs), nil
				}
				cfg := baseConfig(t, src, sink, newCheckingStore(t, rec))
				cfg.Serializer = &headSerializer{fakeSerializer: fakeSerializer{fakePlugin: fakePlugin{"fake"}}, head: head}
				p, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- p.Run(ctx) }()
				rec.waitTotal(t, total)
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, b := range bad[:min(len(bad), 5)] {
					t.Error(b)
				}
				if st := p.Stats(); st.BytesWritten != bodyBytes {
					t.Errorf("BytesWritten %d, the bodies written have %d bytes", st.BytesWritten, bodyBytes)
				}
			})
		})
	}
}
