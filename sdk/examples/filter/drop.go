// Package filter is an example filter plugin, "drop": it drops the changes whose operation
// is listed in `ops` and whose table matches one of the patterns in `tables`. When only one
// of the two is set, that one decides; when neither is, every change is kept.
package filter

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Drop is the "drop" filter.
type Drop struct {
	ops    [change.OpHeartbeat + 1]bool
	anyOp  bool // no ops configured: every op matches
	tables []string
}

type config struct {
	Ops    []string `json:"ops"`
	Tables []string `json:"tables"`
}

// New returns an unconfigured drop filter (which keeps everything).
func New() *Drop { return &Drop{anyOp: true} }

// Info identifies the plugin.
func (d *Drop) Info() sdk.Info {
	return sdk.Info{Name: "drop", Kind: sdk.KindFilter, Version: "0.1.0",
		Summary: "Drops changes by operation and table."}
}

// Spec declares the configuration.
func (d *Drop) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "ops", Type: sdk.TypeStringList,
			Doc: "Operations to drop: " + strings.Join(opNames(), ", ") + ". Unset: every operation (of the tables given)."},
		{Name: "tables", Type: sdk.TypeStringList,
			Doc: `Tables to drop, as "db.table" shell patterns ("demo.*", "*.audit_?"). Unset: every table (for the operations given).`},
	}}
}

func opNames() []string {
	var out []string
	for op := change.OpSnapshot; op <= change.OpHeartbeat; op++ {
		out = append(out, op.String())
	}
	return out
}

// Configure decodes and checks the configuration: each operation name and pattern.
func (d *Drop) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	var errs []error
	var ops [change.OpHeartbeat + 1]bool
	for _, name := range cfg.Ops {
		op, err := change.ParseOp(name)
		if err != nil {
			errs = append(errs, &sdk.AttributeError{Attribute: "ops", Summary: "unknown operation " + quote(name),
				Detail: "use " + strings.Join(opNames(), ", ")})
			continue
		}
		ops[op] = true
	}
	for _, p := range cfg.Tables {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, sdk.AttrError("tables", "invalid pattern %q: %v", p, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.ops, d.anyOp, d.tables = ops, len(cfg.Ops) == 0, cfg.Tables
	return nil
}

func quote(s string) string { return `"` + s + `"` }

// Filter keeps the changes that are not dropped, in order, reusing the input's array.
func (d *Drop) Filter(_ context.Context, changes []*change.Change) ([]*change.Change, error) {
	if d.anyOp && len(d.tables) == 0 {
		return changes, nil
	}
	out := changes[:0]
	for _, c := range changes {
		if !d.drops(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (d *Drop) drops(c *change.Change) bool {
	if !d.anyOp && (int(c.Op) >= len(d.ops) || !d.ops[c.Op]) {
		return false
	}
	if len(d.tables) == 0 {
		return true
	}
	name := c.Database + "." + c.TableName
	for _, p := range d.tables {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
