package runner

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/plugin"
	"github.com/ferry-cdc/ferry/sdk"
)

// fakePlugin has no settings.
type fakePlugin struct{ kind sdk.Kind }

func (p fakePlugin) Info() sdk.Info                            { return sdk.Info{Name: "fake", Kind: p.kind} }
func (fakePlugin) Spec() sdk.Spec                              { return sdk.Spec{} }
func (fakePlugin) Configure(context.Context, sdk.Config) error { return nil }

func fakeLoaded() *Loaded {
	inst := func(k sdk.Kind) *plugin.Instance {
		return &plugin.Instance{Ref: plugin.Ref{Kind: k, Name: "fake"}, Plugin: fakePlugin{k}}
	}
	return &Loaded{File: &config.File{Pipeline: &config.Pipeline{Name: "p"}},
		Source: inst(sdk.KindSource), Serializer: inst(sdk.KindSerializer), Sink: inst(sdk.KindSink)}
}

// A reload does not involve the start-up wait: a changed startup_wait is not reported as a
// change that needs a restart (it only matters at the next start), unlike drain_timeout.
func TestReloadIgnoresStartupWait(t *testing.T) {
	dir := t.TempDir()
	digest := func(runtime string) map[string]string {
		path := filepath.Join(dir, "p.hcl")
		if err := os.WriteFile(path, []byte(`pipeline "p" {
  source "fake" {}
  serializer "fake" {}
  sink "fake" {}
  runtime { `+runtime+` }
}
`), 0o644); err != nil {
			t.Fatal(err)
		}
		f, diags := config.LoadFile(path, config.Options{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		r := &reloader{l: fakeLoaded()}
		return r.digest(f)
	}
	base := digest(`startup_wait = "0s"`)
	if got := digest(`startup_wait = "10m"`); got["runtime block"] != base["runtime block"] {
		t.Errorf("startup_wait changes the runtime digest: %q vs %q", got["runtime block"], base["runtime block"])
	}
	if got := digest(`drain_timeout = "1s"`); got["runtime block"] == base["runtime block"] {
		t.Error("the digest misses drain_timeout: the test checks nothing")
	}
}
