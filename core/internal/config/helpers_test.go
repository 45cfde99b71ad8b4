package config

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/ferry-cdc/ferry/sdk"
)

// testSpec is the schema of every plugin block named "test" in the test files.
var testSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "name", Type: sdk.TypeString, Required: true, Doc: "What the plugin is called."},
	{Name: "port", Type: sdk.TypeInt, Default: int64(80), Min: sdk.Bound(1), Max: sdk.Bound(65535)},
	{Name: "ratio", Type: sdk.TypeFloat, Min: sdk.Bound(0), Max: sdk.Bound(1)},
	{Name: "enabled", Type: sdk.TypeBool, Default: true},
	{Name: "timeout", Type: sdk.TypeDuration, Default: "5s", Min: sdk.Bound(0.001), Max: sdk.Bound(3600)},
	{Name: "buffer", Type: sdk.TypeSize, Default: "1MiB", Max: sdk.Bound(1 << 30)},
	{Name: "hosts", Type: sdk.TypeStringList},
	{Name: "labels", Type: sdk.TypeStringMap},
	{Name: "mode", Type: sdk.TypeString, Enum: []string{"fast", "safe", "paranoid"}, Default: "safe"},
	{Name: "password", Type: sdk.TypeString, Secret: true},
}}

// testEnv is the environment the tests see.
var testEnv = map[string]string{
	"FERRY_TEST_NAME": "from-env",
}

func lookupTestEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// testPluginCheck plays a plugin's Configure: domain checks reported as AttributeErrors.
func testPluginCheck(cfg []byte) []*sdk.AttributeError {
	var c struct {
		Name     string            `json:"name"`
		Hosts    []string          `json:"hosts"`
		Labels   map[string]string `json:"labels"`
		Password *string           `json:"password"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		panic(err)
	}
	var errs []*sdk.AttributeError
	if c.Name == "rejected" {
		errs = append(errs, &sdk.AttributeError{Attribute: "name", Summary: "name is rejected by the plugin"})
	}
	for i, h := range c.Hosts {
		if h == "bad" {
			errs = append(errs, &sdk.AttributeError{Attribute: fmt.Sprintf("hosts[%d]", i), Summary: "host is unreachable"})
		}
	}
	if _, ok := c.Labels["bad"]; ok {
		errs = append(errs, &sdk.AttributeError{Attribute: "labels.bad", Summary: "label key is reserved", Detail: "Pick another key."})
	}
	if c.Name == "needs-password" && c.Password == nil {
		errs = append(errs, &sdk.AttributeError{Attribute: "password", Summary: "password is required for this name"})
	}
	if c.Password != nil && *c.Password == "reject-me-hunter2" {
		errs = append(errs, &sdk.AttributeError{Attribute: "password", Summary: "password " + *c.Password + " is too weak"})
	}
	return errs
}

// loadAndDecode runs both phases the way `ferry validate` does: phase 1, then phase 2 for
// every plugin block named "test" and the fake plugin's domain checks.
func loadAndDecode(path string, opts Options) (*File, hcl.Diagnostics, map[*PluginBlock][]byte) {
	f, diags := LoadFile(path, opts)
	cfgs := map[*PluginBlock][]byte{}
	if f == nil || f.Pipeline == nil {
		return f, diags, cfgs
	}
	for _, b := range f.Pipeline.Plugins() {
		if b.Name != "test" {
			continue
		}
		cfg, d := b.Decode(testSpec, f)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		cfgs[b] = cfg
		diags = append(diags, b.AttributeDiagnostics(testPluginCheck(cfg))...)
	}
	return f, diags, cfgs
}
