package protocol_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Small plugins for the protocol tests.

type base struct {
	kind sdk.Kind
	spec sdk.Spec
	cfg  func(sdk.Config) error
}

func (b base) Info() sdk.Info {
	return sdk.Info{Name: "test", Kind: b.kind, Version: "0.0.1", Summary: "protocol test plugin"}
}
func (b base) Spec() sdk.Spec { return b.spec }
func (b base) Configure(_ context.Context, c sdk.Config) error {
	if b.cfg != nil {
		return b.cfg(c)
	}
	return nil
}

// funcFilter filters with f.
type funcFilter struct {
	base
	f func([]*change.Change) []*change.Change
}

func newFilter(f func([]*change.Change) []*change.Change) *funcFilter {
	return &funcFilter{base: base{kind: sdk.KindFilter}, f: f}
}

func (p *funcFilter) Filter(_ context.Context, cs []*change.Change) ([]*change.Change, error) {
	return p.f(cs), nil
}

// funcSerializer serializes with f.
type funcSerializer struct {
	base
	f func(context.Context, []*change.Change, []sdk.Record) ([]sdk.Record, error)
}

func newSerializer(f func(context.Context, []*change.Change, []sdk.Record) ([]sdk.Record, error)) *funcSerializer {
	return &funcSerializer{base: base{kind: sdk.KindSerializer}, f: f}
}

func (p *funcSerializer) Serialize(ctx context.Context, cs []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	return p.f(ctx, cs, out)
}

// recordingSink keeps what it is given; write, if set, decides the result.
type recordingSink struct {
	base
	sdk.UnimplementedSink
	mu      sync.Mutex
	got     [][]sdk.Record
	write   func(ctx context.Context, rs []sdk.Record) (int, error)
	openErr error
	closed  atomic.Int32
}

func newSink() *recordingSink { return &recordingSink{base: base{kind: sdk.KindSink}} }

func (s *recordingSink) Open(context.Context) error { return s.openErr }

func (s *recordingSink) Write(ctx context.Context, rs []sdk.Record) (int, error) {
	s.mu.Lock()
	s.got = append(s.got, rs)
	s.mu.Unlock()
	if s.write != nil {
		return s.write(ctx, rs)
	}
	return len(rs), nil
}

func (s *recordingSink) Close(context.Context) error {
	s.closed.Add(1)
	return nil
}

// scriptSource plays a script of Read results; past its end it blocks until the context
// ends (or returns io.EOF when eof is set).
type scriptSource struct {
	base
	mu     sync.Mutex
	script []readResult
	next   int
	reads  atomic.Int32
	opened change.Position
	acked  []change.Position
	closed atomic.Int32
	eof    bool
	// onRead, when set, sees each Read's number (1 for the first) before it is served.
	onRead func(n int32)
}

type readResult struct {
	batch *change.Batch
	err   error
}

func newSource(script ...readResult) *scriptSource {
	return &scriptSource{base: base{kind: sdk.KindSource}, script: script}
}

func (s *scriptSource) Open(_ context.Context, req sdk.OpenRequest) error {
	s.opened = req.Position
	return nil
}

func (s *scriptSource) Read(ctx context.Context) (*change.Batch, error) {
	if n := s.reads.Add(1); s.onRead != nil {
		s.onRead(n)
	}
	s.mu.Lock()
	if s.next < len(s.script) {
		r := s.script[s.next]
		s.next++
		s.mu.Unlock()
		return r.batch, r.err
	}
	s.mu.Unlock()
	if s.eof {
		return nil, io.EOF
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s *scriptSource) Close(context.Context) error {
	s.closed.Add(1)
	return nil
}

// ackingSource is a scriptSource that implements sdk.SourceAcker.
type ackingSource struct{ *scriptSource }

func (s ackingSource) Ack(_ context.Context, pos change.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked = append(s.acked, pos)
	if string(pos) == "bad" {
		return errors.New("cannot ack bad")
	}
	return nil
}
