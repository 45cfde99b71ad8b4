package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/plugin"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// hostFilter is a filter whose spec declares a host setting, which only sources may.
type hostFilter struct{ got []byte }

func (*hostFilter) Info() sdk.Info { return sdk.Info{Name: "hosty", Kind: sdk.KindFilter} }
func (*hostFilter) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{{Name: "include", Type: sdk.TypeStringList, Host: sdk.HostTables}}}
}
func (f *hostFilter) Configure(context.Context, sdk.Config) error {
	f.got = []byte("configured")
	return nil
}
func (*hostFilter) Filter(_ context.Context, c []*change.Change) ([]*change.Change, error) {
	return c, nil
}

// TestLoadPluginHostSettings loads plugin blocks through loadPlugin: a source gets the
// values of the objects and resources blocks under the names its spec declares for them,
// and any other kind that declares a host setting is refused.
func TestLoadPluginHostSettings(t *testing.T) {
	f := &hostFilter{}
	reg, err := plugin.NewRegistry(
		plugin.Builtin{Kind: sdk.KindFilter, Name: "hosty", New: func() sdk.Plugin { return f }},
		plugin.Builtin{Kind: sdk.KindSource, Name: "hosty", New: func() sdk.Plugin { return &hostSource{} }},
	)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	src := `pipeline "p" {
  source "hosty" {}
  filter "hosty" {}
  serializer "jsonl" {}
  sink "file" { path = "out" }
  objects {
    table "shop.orders" {}
    exclude = ["shop.x_*"]
  }
  resources { full_read_concurrency = 5 }
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	file, diags := config.LoadFile(path, config.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	host := &plugin.Host{Registry: reg, Logger: zap.NewNop()}
	defer host.Close()
	p := file.Pipeline

	_, _, d := loadPlugin(context.Background(), zap.NewNop(), host, &p.Filters[0], nil, nil)
	if !d.HasErrors() || !strings.Contains(d[0].Detail, `attribute "include": only sources take host-filled settings`) ||
		d[0].Subject == nil || d[0].Subject.Start.Line != 3 {
		t.Errorf("filter declaring a host setting: %v", d)
	}
	if f.got != nil {
		t.Error("the filter was configured")
	}

	inst, cfg, d := loadPlugin(context.Background(), zap.NewNop(), host, &p.Source, p, nil)
	if d.HasErrors() {
		t.Fatal(d)
	}
	var got map[string]any
	if err := json.Unmarshal(cfg, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"include": []any{"shop.orders"}, "skip": []any{"shop.x_*"}, "readers": float64(5)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("source configured with %v, want %v", got, want)
	}
	if s := inst.Plugin.(*hostSource); !reflect.DeepEqual(s.cfg.Include, []string{"shop.orders"}) || s.cfg.Readers != 5 {
		t.Errorf("source decoded %+v", s.cfg)
	}
}

// hostSource declares the host settings under names of its own.
type hostSource struct {
	sdk.UnimplementedSource
	cfg struct {
		Include []string `json:"include"`
		Skip    []string `json:"skip"`
		Readers int64    `json:"readers"`
	}
}

func (*hostSource) Info() sdk.Info { return sdk.Info{Name: "hosty", Kind: sdk.KindSource} }
func (*hostSource) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "include", Type: sdk.TypeStringList, Host: sdk.HostTables},
		{Name: "skip", Type: sdk.TypeStringList, Host: sdk.HostExcludeTables},
		{Name: "readers", Type: sdk.TypeInt, Host: sdk.HostSnapshotConcurrency},
	}}
}
func (s *hostSource) Configure(_ context.Context, cfg sdk.Config) error { return cfg.Decode(&s.cfg) }
func (*hostSource) Open(context.Context, sdk.OpenRequest) error         { return nil }
func (*hostSource) Read(ctx context.Context) (*change.Batch, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
