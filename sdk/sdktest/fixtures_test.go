package sdktest_test

import (
	"testing"

	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func TestSampleChangesCoverEverything(t *testing.T) {
	kinds := map[change.Kind]bool{}
	ops := map[change.Op]bool{}
	for _, c := range sdktest.SampleChanges() {
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
		if c.Table != nil {
			if err := c.Table.Validate(); err != nil {
				t.Error(err)
			}
		}
		ops[c.Op] = true
		for _, v := range append(c.Before, c.After...) {
			kinds[v.Kind()] = true
		}
	}
	for k := change.KindNull; k <= change.KindSet; k++ {
		if !kinds[k] {
			t.Errorf("no value of kind %s", k)
		}
	}
	for op := change.OpSnapshot; op <= change.OpHeartbeat; op++ {
		if !ops[op] {
			t.Errorf("no %s change", op)
		}
	}
	if d := sdktest.DiffChanges(sdktest.SampleChanges(), sdktest.SampleChanges()); d != "" {
		t.Errorf("fixtures differ between calls:\n%s", d)
	}
	a, b := sdktest.SampleChanges(), sdktest.SampleChanges()
	b[2].After[3] = change.NewFloat64(0.2)
	b[5].Meta["source"] = "other"
	if d := sdktest.DiffChanges(a, b); d == "" {
		t.Error("DiffChanges missed a value and a meta difference")
	}
}

func TestDiffRecords(t *testing.T) {
	a, b := sdktest.SampleRecords(), sdktest.SampleRecords()
	if d := sdktest.DiffRecords(a, b); d != "" {
		t.Fatal(d)
	}
	b[1].Value = append(b[1].Value, ' ')
	if sdktest.DiffRecords(a, b) == "" {
		t.Error("DiffRecords missed a value difference")
	}
}
