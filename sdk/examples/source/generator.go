// Package source is an example source plugin, "generator": it makes changes to a synthetic
// table demo.orders. It first emits `rows` snapshot rows, then a deterministic pseudo-random
// mix of inserts, updates and deletes of existing keys (seeded by `seed`), `count` changes in
// all (0: endless), optionally paced at `rate` changes per second.
//
// Its position is the change's sequence number as 8 bytes big-endian; Open at a position
// regenerates the state from the seed and resumes exactly after it, and change ids
// ("gen-<seq>") are stable across runs.
package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Generator is the "generator" source.
type Generator struct {
	sdk.UnimplementedSource
	cfg   config
	table *change.Table
	log   *slog.Logger

	st       *state
	started  time.Time
	produced int64 // changes produced since Open, for pacing
}

type config struct {
	Rows      int64   `json:"rows"`
	Count     int64   `json:"count"`
	Seed      int64   `json:"seed"`
	Rate      float64 `json:"rate"`
	BatchSize int64   `json:"batch_size"`
}

// New returns an unconfigured generator.
func New() *Generator {
	return &Generator{table: OrdersTable(), log: slog.New(slog.DiscardHandler)}
}

// Info identifies the plugin.
func (g *Generator) Info() sdk.Info {
	return sdk.Info{Name: "generator", Kind: sdk.KindSource, Version: "0.1.0",
		Summary: "Generates deterministic changes to a synthetic demo.orders table."}
}

// Spec declares the configuration.
func (g *Generator) Spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "rows", Type: sdk.TypeInt, Default: int64(100), Min: sdk.Bound(0),
			Doc: "Number of snapshot rows emitted first (ids 1..rows)."},
		{Name: "count", Type: sdk.TypeInt, Default: int64(1000), Min: sdk.Bound(0),
			Doc: "Total number of changes, snapshot rows included; 0 generates changes forever."},
		{Name: "seed", Type: sdk.TypeInt, Default: int64(1),
			Doc: "Seed of the pseudo-random mix of inserts, updates and deletes; the same seed gives the same changes."},
		{Name: "rate", Type: sdk.TypeFloat, Default: 0.0, Min: sdk.Bound(0),
			Doc: "Changes per second; 0 generates them as fast as they are read."},
		{Name: "batch_size", Type: sdk.TypeInt, Default: int64(100), Min: sdk.Bound(1), Max: sdk.Bound(maxBatch),
			Doc: "Changes per batch."},
	}}
}

const maxBatch = 100000

// Configure decodes and checks the configuration.
func (g *Generator) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	// The defaults are written once, in Spec; the settings given override them.
	if err := g.Spec().DecodeDefaults(&cfg); err != nil {
		return err
	}
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	var errs []error
	if cfg.Rows < 0 {
		errs = append(errs, sdk.AttrError("rows", "must not be negative"))
	}
	if cfg.Count < 0 {
		errs = append(errs, sdk.AttrError("count", "must not be negative (0 generates forever)"))
	}
	if cfg.Rate < 0 {
		errs = append(errs, sdk.AttrError("rate", "must not be negative (0 is unlimited)"))
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > maxBatch {
		errs = append(errs, sdk.AttrError("batch_size", "must be between 1 and %d", maxBatch))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	g.cfg = cfg
	g.log = c.Logger()
	return nil
}

// Open prepares to generate the changes after req.Position.
func (g *Generator) Open(ctx context.Context, req sdk.OpenRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var after uint64
	if req.Position != nil {
		seq, err := ParsePosition(req.Position)
		if err != nil {
			return err
		}
		if g.cfg.Count > 0 && seq > uint64(g.cfg.Count) {
			return fmt.Errorf("position %d is past the last change (%d)", seq, g.cfg.Count)
		}
		after = seq
	}
	g.st = newState(g.cfg.Seed, g.cfg.Rows)
	for g.st.seq < after {
		g.st.step()
	}
	g.started, g.produced = time.Now(), 0
	g.log.Debug("generator state ready", "seed", g.cfg.Seed, "rows", g.cfg.Rows)
	g.log.Info("generating changes", "after", after, "count", g.cfg.Count, "rate", g.cfg.Rate)
	return nil
}

// DescribePosition implements sdk.PositionDescriber: "change N" (N changes delivered).
func (g *Generator) DescribePosition(_ context.Context, pos change.Position) (string, error) {
	seq, err := ParsePosition(pos)
	if err != nil {
		return "", err
	}
	return "change " + strconv.FormatUint(seq, 10), nil
}

// Read returns the next batch; io.EOF after count changes.
func (g *Generator) Read(ctx context.Context) (*change.Batch, error) {
	if g.st == nil {
		return nil, errors.New("generator: Read before Open")
	}
	n := g.cfg.BatchSize
	if g.cfg.Count > 0 {
		n = min(n, g.cfg.Count-int64(g.st.seq))
		if n <= 0 {
			return nil, io.EOF
		}
	}
	if g.cfg.Rate > 0 {
		n = min(n, max(1, int64(g.cfg.Rate/10))) // batches of about 100ms
		due := g.started.Add(time.Duration(float64(g.produced) / g.cfg.Rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	changes := make([]change.Change, n)
	out := make([]*change.Change, n)
	vals := make([]change.Value, 2*ordersColumns*n)
	for i := range changes {
		s := g.st.step()
		c := &changes[i]
		out[i] = c
		*c = change.Change{
			ID: "gen-" + strconv.FormatUint(s.seq, 10), Op: s.op, Table: g.table,
			Database: "demo", TableName: "orders", CommitTime: now, Position: Position(s.seq),
		}
		if s.op != change.OpSnapshot {
			c.TxID = "gen-tx-" + strconv.FormatUint(s.seq, 10)
			c.TxSeq, c.TxSize = 1, 1
		}
		if s.op == change.OpUpdate || s.op == change.OpDelete {
			c.Before = orderRow(vals[:ordersColumns:ordersColumns], s.id, s.version)
			vals = vals[ordersColumns:]
		}
		if s.op != change.OpDelete {
			v := s.version
			if s.op == change.OpUpdate {
				v++
			}
			c.After = orderRow(vals[:ordersColumns:ordersColumns], s.id, v)
			vals = vals[ordersColumns:]
		}
	}
	g.produced += n
	return &change.Batch{Changes: out, Position: Position(g.st.seq)}, nil
}

// Position encodes a sequence number as the generator's position.
func Position(seq uint64) change.Position {
	return binary.BigEndian.AppendUint64(make(change.Position, 0, 8), seq)
}

// ParsePosition decodes a generator position.
func ParsePosition(p change.Position) (uint64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("invalid generator position %x: want 8 bytes", []byte(p))
	}
	return binary.BigEndian.Uint64(p), nil
}
