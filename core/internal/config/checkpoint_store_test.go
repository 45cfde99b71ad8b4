package config

import (
	"testing"
	"time"
)

// The shared checkpoint stores' settings (ADR 0014): defaults, and each store's own settings.
func TestCheckpointStoreSettings(t *testing.T) {
	env := lookupTestEnv(map[string]string{"META_PASSWORD": "s3cret"})
	cases := []struct {
		name, block string
		want        Checkpoint
	}{
		{"file by default", `checkpoint { dir = "/cp" }`,
			Checkpoint{Store: StoreFile, LeaseTime: DefaultLeaseTime, Prefix: "/ferry/", Table: "ferry_checkpoints"}},
		{"etcd", `checkpoint {
    store      = "etcd"
    endpoints  = ["10.0.0.1:2379", "10.0.0.2:2379"]
    lease_time = "6s"
  }`, Checkpoint{Store: StoreEtcd, LeaseTime: 6 * time.Second, Endpoints: []string{"10.0.0.1:2379", "10.0.0.2:2379"}, Prefix: "/ferry/", Table: "ferry_checkpoints"}},
		{"mysql", `checkpoint {
    store    = "mysql"
    address  = "meta:3306"
    database = "ferry_meta"
    user     = "ferry"
    password = env("META_PASSWORD")
  }`, Checkpoint{Store: StoreMySQL, LeaseTime: DefaultLeaseTime, Address: "meta:3306", Database: "ferry_meta",
			Table: "ferry_checkpoints", User: "ferry", Password: "s3cret", Prefix: "/ferry/"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := `pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  ` + c.block + `
}
`
			f, diags := Parse("p.hcl", []byte(src), Options{Env: env})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got := f.Pipeline.Checkpoint
			w := c.want
			if got.Store != w.Store || got.LeaseTime != w.LeaseTime || got.Address != w.Address || got.Database != w.Database ||
				got.Table != w.Table || got.User != w.User || got.Password != w.Password || got.Prefix != w.Prefix ||
				len(got.Endpoints) != len(w.Endpoints) {
				t.Errorf("checkpoint settings\n got %+v\nwant %+v", got, w)
			}
			for i := range w.Endpoints {
				if got.Endpoints[i] != w.Endpoints[i] {
					t.Errorf("endpoint %d = %q, want %q", i, got.Endpoints[i], w.Endpoints[i])
				}
			}
		})
	}
}
