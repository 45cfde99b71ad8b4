package retention

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// MetaReplayed is set ("true") in change.Meta on a change the writer sends again after a
// rewind; the serializer wrapper turns it into the message property PropReplayed.
const (
	MetaReplayed = "ferry.replayed"
	PropReplayed = "ferry_replayed"
)

// posMagic starts every writer position (a position into the store, not the source's).
var posMagic = []byte{'R', 'T', 1}

// Pos is a writer position: record Seq of store ID delivered (resume after it), in rewind
// epoch Epoch.
type Pos struct {
	ID    uint64
	Epoch uint32
	Seq   uint64
}

// Encode renders p as a change.Position.
func (p Pos) Encode() change.Position {
	b := append([]byte(nil), posMagic...)
	b = binary.BigEndian.AppendUint64(b, p.ID)
	b = binary.AppendUvarint(b, uint64(p.Epoch))
	b = binary.AppendUvarint(b, p.Seq)
	return b
}

// DecodePos decodes a writer position; ok is false for a position that is not one (the
// source's own).
func DecodePos(b change.Position) (p Pos, ok bool) {
	if !bytes.HasPrefix(b, posMagic) || len(b) < len(posMagic)+8+2 {
		return Pos{}, false
	}
	b = b[len(posMagic):]
	p.ID = binary.BigEndian.Uint64(b)
	b = b[8:]
	e, n := binary.Uvarint(b)
	if n <= 0 {
		return Pos{}, false
	}
	b = b[n:]
	s, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) {
		return Pos{}, false
	}
	return Pos{ID: p.ID, Epoch: uint32(e), Seq: s}, true
}

// Source is the pipeline's source when retention is on: it opens the real source at the
// store's source position and reads it into the store (the ingest), independently of the
// writer, and hands the writer the stored batches from its own position. The pipeline's
// checkpoint therefore holds writer positions (Pos); the source's position is in the store.
type Source struct {
	inner sdk.Source
	store *Store
	log   *zap.Logger
	// OnIngestError, when set, is told of an ingest failure (the source's Read failed).
	now func() time.Time

	mu        sync.Mutex
	cursor    uint64 // next record the writer reads
	skip      int    // changes of the cursor's record to drop (a rewind into a record)
	epoch     uint32 // epoch of the positions handed out
	ingestErr error
	eof       bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
	dec    decoder
	kick   chan struct{}
	hand   handover
}

// handover holds the batches the ingest appended last, in append order, as the source
// returned them, so that a writer that keeps up takes them without reading them back from
// the store and decoding them. Each is handed over once at most (the writer's stages may
// change the changes), and the cache is bounded by handBytes of their encoded size: a writer
// that lags behind reads from the store, as it does after a restart or a rewind.
type handover struct {
	mu    sync.Mutex
	order []handed // by record number, ascending: the ingest appends in order
	bytes int
}

// handed is one record in the handover: its number, its changes and their encoded size.
type handed struct {
	seq     uint64
	changes []*change.Change
	size    int
}

const handBytes = 8 << 20

func (h *handover) put(seq uint64, changes []*change.Change, size int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.order = append(h.order, handed{seq, changes, size})
	h.bytes += size
	for h.bytes > handBytes && len(h.order) > 0 {
		h.dropOldest()
	}
}

// take returns record seq's changes and forgets them; ok is false when the cache does not
// hold it (the writer lags, or it was handed over before).
func (h *handover) take(seq uint64) (changes []*change.Change, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Anything up to seq is passed: the writer reads in order (what a rewind sends again comes
	// from the store).
	for len(h.order) > 0 && h.order[0].seq <= seq {
		if h.order[0].seq == seq {
			changes, ok = h.order[0].changes, true
		}
		h.dropOldest()
	}
	return changes, ok
}

// dropOldest forgets the oldest record (h.mu held).
func (h *handover) dropOldest() {
	h.bytes -= h.order[0].size
	h.order[0] = handed{} // let its changes go
	h.order = h.order[1:]
}

func (h *handover) clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.order, h.bytes = nil, 0
}

// NewSource wraps inner over store.
func NewSource(inner sdk.Source, store *Store, log *zap.Logger) *Source {
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{inner: inner, store: store, log: log, now: time.Now, kick: make(chan struct{}, 1)}
}

// Inner returns the wrapped source.
func (s *Source) Inner() sdk.Source { return s.inner }

// Info, Spec and Configure are the real source's.
func (s *Source) Info() sdk.Info { return s.inner.Info() }
func (s *Source) Spec() sdk.Spec { return s.inner.Spec() }
func (s *Source) Configure(ctx context.Context, cfg sdk.Config) error {
	return s.inner.Configure(ctx, cfg)
}

// Open positions the writer at req.Position (a writer position, or the source's own for a
// pipeline that ran without retention so far), opens the real source at the store's source
// position and starts the ingest.
func (s *Source) Open(ctx context.Context, req sdk.OpenRequest) error {
	st := s.store
	var writer *Pos
	if p, ok := DecodePos(req.Position); ok {
		if p.ID != st.ID() {
			return sdk.Permanent(fmt.Errorf("retention: the checkpoint is a position in another retention store (id %016x, this store %s is %016x): the store was replaced; restore it, or remove the checkpoint to start over",
				p.ID, st.Dir(), st.ID()))
		}
		writer = &p
	} else if len(req.Position) > 0 {
		// The checkpoint is the source's own: the pipeline ran without retention. The store
		// continues from it.
		if !bytes.Equal(st.SourcePosition(), req.Position) {
			if !st.Empty() {
				s.log.Warn("retention: the checkpoint is a source position, the store is older: its records were all delivered, it starts over from the checkpoint",
					zap.String("dir", st.Dir()))
			}
			if err := st.Reset(req.Position); err != nil {
				return fmt.Errorf("retention: %w", err)
			}
		}
	}
	w := st.Window()
	s.hand.clear()
	s.cursor, s.epoch, s.skip = w.First, 0, 0
	if writer != nil {
		s.cursor, s.epoch = writer.Seq+1, writer.Epoch
	}
	if r := st.currentRewind(); r != nil && r.Epoch > s.epoch {
		s.cursor, s.skip, s.epoch = r.Seq, r.Skip, r.Epoch
		s.log.Info("retention: rewind in force", zap.Time("to", r.To), zap.Uint64("record", r.Seq), zap.Int("skip", r.Skip))
	}
	if s.cursor < w.First {
		return sdk.Permanent(fmt.Errorf("retention: the writer's checkpoint is at record %d, but the store %s begins at record %d: records the writer has not delivered are gone",
			s.cursor, st.Dir(), w.First))
	}
	if s.cursor > w.Last+1 {
		return sdk.Permanent(fmt.Errorf("retention: the writer's checkpoint is at record %d, past the store's newest record %d: the store %s lost records (restored from an older copy?)",
			s.cursor, w.Last, st.Dir()))
	}
	st.setDelivered(s.cursor)
	if err := s.inner.Open(ctx, sdk.OpenRequest{Pipeline: req.Pipeline, Position: st.SourcePosition(), State: req.State}); err != nil {
		return err
	}
	ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Add(2)
	go s.ingest(ictx)
	go s.syncLoop(ictx)
	return nil
}

// ingest reads the real source into the store until it ends or fails.
func (s *Source) ingest(ctx context.Context) {
	defer s.wg.Done()
	var enc encoder
	var lastTrim time.Time
	for {
		var b *change.Batch
		err := protect(func() error {
			var err error
			b, err = s.inner.Read(ctx)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.mu.Lock()
			if errors.Is(err, io.EOF) {
				s.eof = true
			} else {
				s.ingestErr = err
			}
			s.mu.Unlock()
			s.kickSync()
			return
		}
		if b == nil {
			continue
		}
		pos := b.Position
		if len(pos) == 0 && len(b.Changes) > 0 {
			pos = b.Changes[len(b.Changes)-1].Position
		}
		if len(pos) == 0 {
			if len(b.Changes) == 0 {
				continue
			}
			s.setErr(fmt.Errorf("batch of %d changes without a position", len(b.Changes)))
			return
		}
		now := s.now()
		var val []byte
		if len(b.Changes) > 0 {
			val = encodeBatch(&enc, now, pos, b.Changes)
		}
		if now.Sub(lastTrim) > time.Second {
			lastTrim = now
			if _, err := s.store.trim(now, 0); err != nil {
				s.log.Warn("retention: trim failed", zap.Error(err))
			}
		}
		if err := s.waitRoom(ctx, int64(len(val))); err != nil {
			return
		}
		seq, err := s.store.appendBatch(val, pos, b.Changes, now)
		if err != nil {
			s.setErr(fmt.Errorf("retention: append to %s: %w", s.store.Dir(), err))
			return
		}
		if len(b.Changes) > 0 {
			s.hand.put(seq, b.Changes, len(val))
		}
		if cap(enc.buf) > 4<<20 {
			enc.buf = nil // do not keep an outsized buffer
		}
		s.kickSync()
	}
}

func (s *Source) setErr(err error) {
	s.mu.Lock()
	s.ingestErr = err
	s.mu.Unlock()
	s.kickSync()
}

// waitRoom waits until the store may take need more bytes: under MaxBytes (trimming
// delivered records first) and with MinFree left on the disk. This is the backpressure on
// the source.
func (s *Source) waitRoom(ctx context.Context, need int64) error {
	st := s.store
	logged := false
	defer st.setWaiting("")
	for {
		st.mu.Lock()
		over := st.bytesLocked()+need > st.opts.MaxBytes && st.next > st.first
		ch := st.changed
		st.mu.Unlock()
		if over {
			if _, err := st.trim(s.now(), need); err != nil {
				s.log.Warn("retention: trim failed", zap.Error(err))
			}
			st.mu.Lock()
			over = st.bytesLocked()+need > st.opts.MaxBytes && st.next > st.first
			ch = st.changed
			st.mu.Unlock()
		}
		why := ""
		if over {
			why = fmt.Sprintf("max_bytes: the store holds %d bytes the writer has not delivered (max_bytes %d)", st.Stats().LeadBytes, st.opts.MaxBytes)
		} else if free, err := st.freeBytes(); err == nil && free < st.opts.MinFree+need {
			why = fmt.Sprintf("disk: %d bytes free on the file system of %s, the store keeps min_free %d", free, st.Dir(), st.opts.MinFree)
			_, _ = st.trim(s.now(), st.opts.MaxBytes) // drop every delivered record
			st.reclaim()                              // and give their space back
			ch = nil
		}
		if why == "" {
			if logged {
				s.log.Info("retention: the reader continues")
			}
			return nil
		}
		st.setWaiting(why)
		if !logged {
			s.log.Warn("retention: the reader waits", zap.String("reason", why))
			logged = true
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *Source) kickSync() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// syncLoop makes appended records durable (group commit: one fsync covers every record
// appended since the last), then lets the writer see them and tells the source what the
// store holds. It also trims by age while the source is idle.
func (s *Source) syncLoop(ctx context.Context) {
	defer s.wg.Done()
	acker, _ := s.inner.(sdk.SourceAcker)
	var acked change.Position
	var lastAck time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case now := <-tick.C:
			if _, err := s.store.trim(now, 0); err != nil {
				s.log.Warn("retention: trim failed", zap.Error(err))
			}
		}
		src := s.store.SourcePosition()
		if err := s.store.Sync(); err != nil {
			if ctx.Err() == nil {
				s.setErr(fmt.Errorf("retention: sync %s: %w", s.store.Dir(), err))
			}
			return
		}
		// The source may release what the store holds durably.
		if acker != nil && len(src) > 0 && !bytes.Equal(src, acked) && time.Since(lastAck) > time.Second {
			if err := protect(func() error { return acker.Ack(ctx, src) }); err != nil && ctx.Err() == nil {
				s.log.Warn("retention: source ack failed", zap.Error(err))
			}
			acked, lastAck = src, time.Now()
		}
	}
}

// Read returns the writer's next stored batch, waiting for the ingest.
func (s *Source) Read(ctx context.Context) (*change.Batch, error) {
	st := s.store
	for {
		st.mu.Lock()
		durable, ch, closed := st.durable, st.changed, st.closed
		st.mu.Unlock()
		s.mu.Lock()
		cursor, skip, epoch := s.cursor, s.skip, s.epoch
		ierr, eof := s.ingestErr, s.eof
		s.mu.Unlock()
		if closed {
			return nil, errors.New("retention: store closed")
		}
		if cursor < durable {
			changes, ok := s.hand.take(cursor)
			if !ok {
				rec, err := st.record(&s.dec, cursor)
				if err != nil {
					return nil, sdk.Permanent(err)
				}
				changes = rec.changes
			}
			s.mu.Lock()
			if s.cursor != cursor || s.epoch != epoch {
				s.mu.Unlock()
				continue // rewound meanwhile
			}
			s.cursor, s.skip = cursor+1, 0
			s.mu.Unlock()
			if skip > 0 && skip <= len(changes) {
				changes = changes[skip:]
			}
			if r := st.currentRewind(); r != nil && r.Epoch == epoch && cursor < r.Until {
				for _, c := range changes {
					if c.Meta == nil {
						c.Meta = make(map[string]string, 1)
					}
					c.Meta[MetaReplayed] = "true"
				}
			}
			return &change.Batch{Changes: changes, Position: Pos{ID: st.ID(), Epoch: epoch, Seq: cursor}.Encode()}, nil
		}
		if ierr != nil {
			return nil, ierr
		}
		if eof {
			return nil, io.EOF
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// Ack is the writer's saved checkpoint: records up to it may be trimmed.
func (s *Source) Ack(_ context.Context, pos change.Position) error {
	p, ok := DecodePos(pos)
	if !ok || p.ID != s.store.ID() {
		return nil
	}
	s.mu.Lock()
	epoch := s.epoch
	s.mu.Unlock()
	if p.Epoch != epoch {
		return nil // from before a rewind
	}
	s.store.setDelivered(p.Seq + 1)
	return nil
}

// Rewind moves the running writer back to the first change committed at or after t. The
// batches the pipeline already read are delivered as they are; the next Read starts at the
// rewound record.
func (s *Source) Rewind(t time.Time) (Rewind, error) {
	seq, skip, err := s.store.Find(t)
	if err != nil {
		return Rewind{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	until := s.cursor
	if r := s.store.currentRewind(); r != nil && r.Epoch == s.epoch && r.Until > until {
		until = r.Until // still replaying an earlier rewind
	}
	r := Rewind{Epoch: s.epoch + 1, Seq: seq, Skip: skip, Until: until, To: t.UTC(), At: time.Now().UTC()}
	if err := s.store.setRewind(r); err != nil {
		return Rewind{}, fmt.Errorf("retention: record the rewind: %w", err)
	}
	s.cursor, s.skip, s.epoch = seq, skip, r.Epoch
	s.log.Info("retention: rewind", zap.Time("to", r.To), zap.Uint64("record", seq), zap.Int("skip", skip),
		zap.Uint64("replay_until", until))
	return r, nil
}

// Close stops the ingest and closes the real source (the store stays open: its owner
// closes it).
func (s *Source) Close(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
		// What was appended becomes durable, so the next start resumes after it.
		if err := s.store.Sync(); err != nil {
			s.log.Warn("retention: final sync failed", zap.Error(err))
		}
	}
	return s.inner.Close(ctx)
}

// DescribePosition renders a writer position with the source's position of its record.
func (s *Source) DescribePosition(ctx context.Context, pos change.Position) (string, error) {
	p, ok := DecodePos(pos)
	if !ok {
		if d, ok := s.inner.(sdk.PositionDescriber); ok {
			return d.DescribePosition(ctx, pos)
		}
		return "", sdk.ErrNotSupported
	}
	text := fmt.Sprintf("retention record %d", p.Seq)
	if p.Epoch > 0 {
		text += fmt.Sprintf(" (rewind %d)", p.Epoch)
	}
	rec, err := s.store.record(&decoder{}, p.Seq)
	if err != nil {
		return text, nil
	}
	src := hex.EncodeToString(rec.src)
	if d, ok := s.inner.(sdk.PositionDescriber); ok {
		if t, err := d.DescribePosition(ctx, rec.src); err == nil && t != "" {
			src = t
		}
	}
	return text + ", source " + src, nil
}

// SetTables, Resnapshot and SnapshotProgress are the real source's.
func (s *Source) SetTables(ctx context.Context, sel sdk.TableSelection) error {
	if ts, ok := s.inner.(sdk.TableSelector); ok {
		return ts.SetTables(ctx, sel)
	}
	return sdk.ErrNotSupported
}

func (s *Source) Resnapshot(ctx context.Context, tables []string) error {
	if r, ok := s.inner.(sdk.Resnapshotter); ok {
		return r.Resnapshot(ctx, tables)
	}
	return fmt.Errorf("source %q: %w", s.inner.Info().Name, sdk.ErrNotSupported)
}

func (s *Source) SnapshotProgress(ctx context.Context) ([]sdk.SnapshotProgress, error) {
	if r, ok := s.inner.(sdk.ProgressReporter); ok {
		return r.SnapshotProgress(ctx)
	}
	return nil, nil
}

// protect turns a panic of the wrapped source into an error.
func protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("source panicked: %v", r)
		}
	}()
	return f()
}

// Serializer wraps a serializer: records of replayed changes get the property
// PropReplayed = "true".
type Serializer struct{ sdk.Serializer }

// ExactValues forwards the wrapped serializer's sdk.ExactValues (false without it): the
// replayed mark changes properties, not values.
func (z Serializer) ExactValues() bool {
	ev, ok := z.Serializer.(sdk.ExactValues)
	return ok && ev.ExactValues()
}

// Serialize calls the wrapped serializer and marks the replayed records.
func (z Serializer) Serialize(ctx context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	n := len(out)
	out, err := z.Serializer.Serialize(ctx, changes, out)
	if err != nil {
		return out, err
	}
	for i := n; i < len(out); i++ {
		ci := out[i].Change
		if ci >= 0 && ci < len(changes) && changes[ci].Meta[MetaReplayed] == "true" {
			props := out[i].Properties
			// A fresh array: the serializer may share one between records.
			out[i].Properties = append(props[:len(props):len(props)], sdk.Property{Key: PropReplayed, Value: "true"})
		}
	}
	return out, nil
}
