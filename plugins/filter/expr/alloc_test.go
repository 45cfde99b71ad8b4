//go:build !race

// The race detector changes allocation counts, so this test runs without it.

package expr_test

import (
	"context"
	"testing"

	"github.com/ferry-cdc/ferry/plugins/filter/expr"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func TestAllocations(t *testing.T) {
	f := expr.New()
	if err := f.Configure(context.Background(), cfg(`{"keep_if":"op == 'insert' && table == 'orders'"}`)); err != nil {
		t.Fatal(err)
	}
	cs := changes()
	batch := make([]*change.Change, len(cs))
	allocs := testing.AllocsPerRun(100, func() {
		copy(batch, cs)
		if _, err := f.Filter(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	})
	// Without row maps nothing is built per change.
	if allocs > 2 {
		t.Errorf("%v allocations per batch of %d without row access", allocs, len(cs))
	}
}
