package sdk

import (
	"context"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Kind is the kind of a plugin.
type Kind string

// The four plugin kinds.
const (
	KindSource     Kind = "source"
	KindFilter     Kind = "filter"
	KindSerializer Kind = "serializer"
	KindSink       Kind = "sink"
)

// Kinds lists every plugin kind in pipeline order.
var Kinds = []Kind{KindSource, KindFilter, KindSerializer, KindSink}

// Info identifies a plugin.
type Info struct {
	// Name is the plugin's name within its kind ("oceanbase", "canal", "rocketmq").
	Name string
	// Kind is the plugin's kind.
	Kind Kind
	// Version is the plugin's own version (semantic versioning recommended).
	Version string
	// Summary is one line for `ferry plugins`.
	Summary string
}

// Plugin is what every plugin kind has in common.
type Plugin interface {
	// Info identifies the plugin.
	Info() Info
	// Spec declares the plugin's configuration attributes.
	Spec() Spec
	// Configure receives the decoded configuration. It runs before anything else and may be
	// called without a later Open (by `ferry validate`). Domain errors about one attribute
	// should be returned as *AttributeError (see AttrError) so ferry points at the HCL line.
	Configure(ctx context.Context, cfg Config) error
}

// Source reads changes.
//
// The host calls Configure, then Open, then Read repeatedly from one goroutine, and
// finally Close. Open may be called again after it failed with an error not marked
// Permanent (the host waits at start for a database that is not up yet): a failed Open must
// release what it acquired. Read blocks until it has a batch; it returns the context's error when the
// context is cancelled and io.EOF when a finite source has nothing more.
type Source interface {
	Plugin
	// Open prepares to read. req.Position is nil for a first run, else the last checkpointed
	// batch position: the source must deliver exactly the changes after it.
	//
	// A source opened without a position should return, as its first batch, a batch with no
	// changes whose Position is where it starts. The host saves that position before it
	// processes anything else, so a crash before the first regular checkpoint resumes from
	// this run's start instead of starting over.
	Open(ctx context.Context, req OpenRequest) error
	// Read returns the next batch of changes, in source order.
	Read(ctx context.Context) (*change.Batch, error)
	// Close releases resources. It is called once, at the end, also after a failed Open.
	Close(ctx context.Context) error
}

// OpenRequest is the argument of Source.Open.
type OpenRequest struct {
	// Pipeline is the name of the pipeline the source runs in.
	Pipeline string
	// Position is where to resume; nil to start fresh.
	Position change.Position
	// State is durable storage kept with the pipeline's checkpoint (see StateStore); nil
	// when the host has none (tests, `ferry objects`), which a source must tolerate.
	State StateStore
}

// SourceAcker is implemented by sources that want to know which positions are safe: every
// change up to pos has been delivered by the sink and checkpointed. Sources may release
// resources for them (watermark rows, retained logs).
type SourceAcker interface {
	Ack(ctx context.Context, pos change.Position) error
}

// Filter keeps, drops or changes events.
type Filter interface {
	Plugin
	// Filter returns the changes to keep, in their input order. It may modify the changes it
	// keeps (for example set Topic) but must not reorder them. The returned slice may reuse
	// the input's backing array.
	Filter(ctx context.Context, changes []*change.Change) ([]*change.Change, error)
}

// Serializer turns changes into messages.
type Serializer interface {
	Plugin
	// Serialize appends to out the records for changes, in order, and returns out. Each
	// record's Change is the index of the change it was made from; a change may give zero,
	// one or several records. Serialize may be called from several goroutines at once.
	Serialize(ctx context.Context, changes []*change.Change, out []Record) ([]Record, error)
}

// ExactValues is implemented by a Serializer whose records' values are held in memory of
// about their size: no array behind them larger than their bytes by more than a quarter, and
// none that a later append outgrew. The host counts record bytes against the pipeline's
// memory budget; for a Serializer without it, the host copies every batch's values into one
// array of their exact size (CompactValues) to make that count true, a copy this interface
// spares. Serializers that append every record into one buffer sized up front get there
// with CompactValues when the buffer grew.
type ExactValues interface {
	Serializer
	// ExactValues reports whether the values of every Serialize call are exact as above.
	ExactValues() bool
}

// CompactValues copies the values of recs into one array of exactly their total size and
// points each record at its copy. Heads are left as they are (they are shared).
func CompactValues(recs []Record) {
	n := 0
	for i := range recs {
		n += len(recs[i].Value)
	}
	if n == 0 {
		return
	}
	arena := make([]byte, 0, n)
	for i := range recs {
		v := recs[i].Value
		if v == nil {
			continue
		}
		start := len(arena)
		arena = append(arena, v...)
		recs[i].Value = arena[start:len(arena):len(arena)]
	}
}

// SharedHeads is implemented by a Sink that writes each record's Head before its Value
// (Record.AppendBody, or both in one vectored write), and counts and limits message sizes
// by Record.BodyLen. Records reach it with the Head a serializer set; a sink without it
// gets every record's body whole in Value (the host calls JoinHeads first). Heads are
// shared between records: a sink must not modify them.
type SharedHeads interface {
	Sink
	// SharedHeads reports whether the sink writes Record.Head as above.
	SharedHeads() bool
}

// JoinHeads moves the Head of every record of recs that has one into its Value: the bodies
// of those records are copied into one array of exactly their total size, and their Head
// is cleared. Records without a Head are left as they are.
func JoinHeads(recs []Record) {
	n := 0
	for i := range recs {
		if len(recs[i].Head) > 0 {
			n += recs[i].BodyLen()
		}
	}
	if n == 0 {
		return
	}
	arena := make([]byte, 0, n)
	for i := range recs {
		r := &recs[i]
		if len(r.Head) == 0 {
			continue
		}
		start := len(arena)
		arena = r.AppendBody(arena)
		r.Value, r.Head = arena[start:len(arena):len(arena)], nil
	}
}

// Sink delivers records.
//
// The host calls Configure, Open, then Write from several goroutines at once (one per write
// lane); records that must stay in order (same key) are always in one lane, and a lane never
// has two Writes in flight. Close is called once at the end. Open may be called again after
// it failed with an error not marked Permanent (the host waits at start for a broker that is
// not up yet): a failed Open must release what it acquired.
type Sink interface {
	Plugin
	// Open connects to the target.
	Open(ctx context.Context) error
	// Write delivers records in order and returns when they are durable at the target. It
	// returns how many leading records were delivered; on error the host retries from the
	// first undelivered one, so a sink must not deliver record i+1 before record i. When ctx
	// has a deadline (a pipeline in high availability fences its writes by its lease), the
	// sink must not start sending anything to the target after it: check ctx.Err() right
	// before each send, and return what was delivered and ctx's error.
	Write(ctx context.Context, records []Record) (delivered int, err error)
	// Close flushes and disconnects.
	Close(ctx context.Context) error
}

// UnimplementedSource supplies a source's default methods (a Close that does nothing); embed it
// to leave them out. The kind interfaces do not grow (ADR 0005: a new ability is an optional
// interface), so there are no such structs for Filter and Serializer, which have no defaults.
type UnimplementedSource struct{}

// Close does nothing.
func (UnimplementedSource) Close(context.Context) error { return nil }

// UnimplementedSink supplies a sink's default methods (Open and Close that do nothing); embed it
// to leave them out.
type UnimplementedSink struct{}

// Open does nothing.
func (UnimplementedSink) Open(context.Context) error { return nil }

// Close does nothing.
func (UnimplementedSink) Close(context.Context) error { return nil }
