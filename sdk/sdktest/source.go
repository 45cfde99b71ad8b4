package sdktest

import (
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// sourceBatches is how many batches the source suite reads.
const sourceBatches = 4

// Source checks a source plugin, directly and through GRPCPair. newSource returns a new
// source and the configuration to give it; the source must produce at least two batches,
// and be deterministic enough that resuming at a batch's position gives the changes (by ID)
// that followed that batch. Checks: Info and Spec; changes are valid and batches carry
// positions; Open at a position resumes exactly after it; Close returns after a failed
// Open; no goroutine outlives the suite.
func Source(t *testing.T, newSource func(t testing.TB) (sdk.Source, sdk.Config)) {
	p, _ := newSource(t)
	begin(t, p)
	for _, m := range modes(newSource) {
		t.Run(m.name, func(t *testing.T) {
			t.Run("info", func(t *testing.T) {
				p, _ := m.make(t)
				checkInfo(t, p, sdk.KindSource)
			})
			t.Run("read-resume", func(t *testing.T) { checkSourceResume(t, m) })
			t.Run("close-after-failed-open", func(t *testing.T) {
				src, cfg := m.make(t)
				configure(t, src, cfg)
				_ = src.Open(badOpenCtx(), sdk.OpenRequest{Pipeline: "sdktest", Position: change.Position("\xde\xad not a position")})
				_ = closeWithin(t, src.Close)
			})
		})
	}
}

// readBatches opens src at pos and reads up to n batches, or until it has minChanges
// changes, or to the end of the stream; then it closes src.
func readBatches(t *testing.T, src sdk.Source, pos change.Position, n, minChanges int) []*change.Batch {
	t.Helper()
	if err := src.Open(callCtx(t), sdk.OpenRequest{Pipeline: "sdktest", Position: pos}); err != nil {
		t.Fatalf("Open(%x): %v", pos, err)
	}
	var out []*change.Batch
	changes := 0
	for len(out) < n && (minChanges <= 0 || changes < minChanges) {
		b, err := src.Read(callCtx(t))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Read after %d batches: %v", len(out), err)
		}
		if len(b.Changes) > 0 && b.Position == nil {
			t.Errorf("batch %d has changes but no position", len(out))
		}
		for _, c := range b.Changes {
			if err := c.Validate(); err != nil {
				t.Errorf("batch %d: %v", len(out), err)
			}
		}
		out = append(out, b)
		changes += len(b.Changes)
	}
	if err := closeWithin(t, src.Close); err != nil {
		t.Errorf("Close: %v", err)
	}
	return out
}

func ids(bs []*change.Batch) []string {
	var out []string
	for _, b := range bs {
		for _, c := range b.Changes {
			out = append(out, c.ID)
		}
	}
	return out
}

func checkSourceResume(t *testing.T, m mode[sdk.Source]) {
	src, cfg := m.make(t)
	configure(t, src, cfg)
	first := readBatches(t, src, nil, sourceBatches, 0)
	if len(first) < 2 {
		t.Fatalf("the source gave %d batches: the suite needs at least 2", len(first))
	}
	want := ids(first[1:])
	if len(want) == 0 {
		t.Fatal("the source gave no changes after its first batch")
	}

	src, cfg = m.make(t)
	configure(t, src, cfg)
	got := ids(readBatches(t, src, first[0].Position, 1000, len(want)))
	got = got[:min(len(got), len(want))]
	if !slices.Equal(got, want) {
		t.Errorf("resumed at %x, the source gave\n  %q\nwant the changes that followed it\n  %q", first[0].Position, got, want)
	}
}
