package oms

import (
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
)

// The defaults are written once, in Spec: defaults() decodes them, so they cannot drift.
func TestDefaultsFromSpec(t *testing.T) {
	want := config{DBType: "auto"}
	if got := defaults(); got != want {
		t.Fatalf("defaults decoded from the spec: %+v, want %+v", got, want)
	}
	if got := New(sdk.Info{Name: "default"}, false).cfg; got != want {
		t.Fatalf("New's configuration: %+v, want %+v", got, want)
	}
}
