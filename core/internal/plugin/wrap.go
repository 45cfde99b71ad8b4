package plugin

import (
	"context"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// wrap decorates an out-of-process plugin so every failing call passes through check, which
// reports a dead process as a crash with the plugin's name and last output.
func wrap(kind sdk.Kind, p sdk.Plugin, check func(error) error) sdk.Plugin {
	base := wrapped{p: p, check: check}
	switch kind {
	case sdk.KindSource:
		return &wrappedSource{wrapped: base, s: p.(sdk.Source)}
	case sdk.KindFilter:
		return &wrappedFilter{wrapped: base, f: p.(sdk.Filter)}
	case sdk.KindSerializer:
		return &wrappedSerializer{wrapped: base, s: p.(sdk.Serializer)}
	case sdk.KindSink:
		return &wrappedSink{wrapped: base, s: p.(sdk.Sink)}
	}
	return p
}

type wrapped struct {
	p     sdk.Plugin
	check func(error) error
}

func (w wrapped) Info() sdk.Info { return w.p.Info() }
func (w wrapped) Spec() sdk.Spec { return w.p.Spec() }
func (w wrapped) Configure(ctx context.Context, cfg sdk.Config) error {
	return w.check(w.p.Configure(ctx, cfg))
}

type wrappedSource struct {
	wrapped
	s sdk.Source
}

func (w *wrappedSource) Open(ctx context.Context, req sdk.OpenRequest) error {
	return w.check(w.s.Open(ctx, req))
}

func (w *wrappedSource) Read(ctx context.Context) (*change.Batch, error) {
	b, err := w.s.Read(ctx)
	return b, w.check(err)
}

func (w *wrappedSource) Close(ctx context.Context) error { return w.check(w.s.Close(ctx)) }

// Ack forwards to the plugin when it accepts acknowledgements.
func (w *wrappedSource) Ack(ctx context.Context, pos change.Position) error {
	if a, ok := w.s.(sdk.SourceAcker); ok {
		return w.check(a.Ack(ctx, pos))
	}
	return nil
}

type wrappedFilter struct {
	wrapped
	f sdk.Filter
}

func (w *wrappedFilter) Filter(ctx context.Context, cs []*change.Change) ([]*change.Change, error) {
	out, err := w.f.Filter(ctx, cs)
	return out, w.check(err)
}

type wrappedSerializer struct {
	wrapped
	s sdk.Serializer
}

func (w *wrappedSerializer) Serialize(ctx context.Context, cs []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	out, err := w.s.Serialize(ctx, cs, out)
	return out, w.check(err)
}

// ExactValues forwards the plugin's sdk.ExactValues (false without it).
func (w *wrappedSerializer) ExactValues() bool {
	ev, ok := w.s.(sdk.ExactValues)
	return ok && ev.ExactValues()
}

type wrappedSink struct {
	wrapped
	s sdk.Sink
}

func (w *wrappedSink) Open(ctx context.Context) error { return w.check(w.s.Open(ctx)) }

func (w *wrappedSink) Write(ctx context.Context, recs []sdk.Record) (int, error) {
	n, err := w.s.Write(ctx, recs)
	return n, w.check(err)
}

func (w *wrappedSink) Close(ctx context.Context) error { return w.check(w.s.Close(ctx)) }

// SharedHeads forwards the plugin's sdk.SharedHeads (false without it; the protocol's sink
// client has none: the host joins heads before they cross the process boundary).
func (w *wrappedSink) SharedHeads() bool {
	sh, ok := w.s.(sdk.SharedHeads)
	return ok && sh.SharedHeads()
}

// Precheck forwards to the plugin (every out-of-process adapter has it; one whose plugin has
// no checks returns none).
func (w wrapped) Precheck(ctx context.Context) ([]sdk.Check, error) {
	if pc, ok := w.p.(sdk.Prechecker); ok {
		checks, err := pc.Precheck(ctx)
		return checks, w.check(err)
	}
	return nil, nil
}

// ListTables forwards to the plugin (through the protocol, which answers
// sdk.ErrNotSupported when the plugin cannot list).
func (w *wrappedSource) ListTables(ctx context.Context, include []string) ([]sdk.ListedTable, error) {
	if l, ok := w.s.(sdk.TableLister); ok {
		out, err := l.ListTables(ctx, include)
		return out, w.check(err)
	}
	return nil, sdk.ErrNotSupported
}

// SetTables forwards to the plugin when its source can change its tables while running.
func (w *wrappedSource) SetTables(ctx context.Context, sel sdk.TableSelection) error {
	if s, ok := w.s.(sdk.TableSelector); ok {
		return w.check(s.SetTables(ctx, sel))
	}
	return sdk.ErrNotSupported
}

// Resnapshot forwards to the plugin when its source can snapshot tables again.
func (w *wrappedSource) Resnapshot(ctx context.Context, tables []string) error {
	if s, ok := w.s.(sdk.Resnapshotter); ok {
		return w.check(s.Resnapshot(ctx, tables))
	}
	return sdk.ErrNotSupported
}

// DescribePosition forwards to the plugin when its source describes positions.
func (w *wrappedSource) DescribePosition(ctx context.Context, pos change.Position) (string, error) {
	if d, ok := w.s.(sdk.PositionDescriber); ok {
		text, err := d.DescribePosition(ctx, pos)
		return text, w.check(err)
	}
	return "", sdk.ErrNotSupported
}

// SnapshotProgress forwards to the plugin when it reports progress.
func (w *wrappedSource) SnapshotProgress(ctx context.Context) ([]sdk.SnapshotProgress, error) {
	if p, ok := w.s.(sdk.ProgressReporter); ok {
		out, err := p.SnapshotProgress(ctx)
		return out, w.check(err)
	}
	return nil, nil
}

// OrderScope forwards to the plugin (the protocol's sink client always has it; it answers
// sdk.OrderKey for a plugin that declared no scope).
func (w *wrappedSink) OrderScope() sdk.OrderScope {
	if o, ok := w.s.(sdk.OrderScoper); ok {
		return o.OrderScope()
	}
	return sdk.OrderKey
}
