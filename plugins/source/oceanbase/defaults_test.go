package oceanbase

import (
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

// The defaults are written once, in spec(): defaultConfig decodes them, so they cannot drift.
// This pins the decoded values (a Spec default that stops decoding fails here too).
func TestDefaultsFromSpec(t *testing.T) {
	got := defaultConfig()
	if got.TLS != tlsDisabled || got.QueryTimeout != sdk.Duration(24*time.Hour) || got.Mode != ModeBoth ||
		got.SnapshotConcurrency != 4 || got.ChunkSize != 4096 || got.HeartbeatInterval != sdk.Duration(5*time.Second) ||
		got.BatchSize != 1024 || got.ReaderMemory != defaultReaderMemory || got.ServerID != 0 || got.EmitDDL {
		t.Fatalf("defaults decoded from the spec: %+v", got)
	}
	for _, a := range spec().Attributes {
		if a.Default == nil {
			continue
		}
		one := sdk.Spec{Attributes: []sdk.Attribute{a}}
		var c config
		if err := one.DecodeDefaults(&c); err != nil {
			t.Errorf("attribute %s: %v", a.Name, err)
		}
	}
}
