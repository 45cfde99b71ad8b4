package retention

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// Pebble's memory is fixed and small: a block cache and at most two memtables (one being
// written, one being flushed). With cgo it lives outside the Go heap, so the host lowers the
// Go memory limit by MemoryBytes to keep the process within the resources block.
const (
	cacheBytes    = 8 << 20
	memtableBytes = 4 << 20
	memtables     = 2
	// MemoryBytes is what a Store holds in memory besides one batch being encoded or decoded.
	MemoryBytes = cacheBytes + memtables*memtableBytes
)

// Defaults of the retention block.
const (
	DefaultDuration = 24 * time.Hour
	DefaultMaxBytes = 20 << 30
	// DefaultMinFree is the free space the store's file system must keep: below it the
	// reader waits (pebble treats a failed WAL write as fatal, so a full disk is never let
	// happen under it). It covers a memtable flush and the WAL's preallocation.
	DefaultMinFree = 64 << 20
)

// Options configure a Store.
type Options struct {
	// Dir is the store's own directory (created when missing).
	Dir string
	// Duration is how long a record is kept (counted from when it was stored).
	Duration time.Duration
	// MaxBytes bounds the retained records' bytes (encoded); the oldest delivered records
	// are trimmed first, and when only undelivered ones are left the reader waits.
	MaxBytes int64
	// MinFree is the free space (bytes) below which the reader waits.
	MinFree int64
	// Logger receives the store's logs (pebble's included, at debug level).
	Logger *zap.Logger
}

// Keys: 'd' seq → record, 'm' seq → meta, 's' name → state.
var (
	keyID     = []byte("sid")
	keyFirst  = []byte("sfirst")
	keySource = []byte("ssrc")
	keyRewind = []byte("srewind")
)

func recKey(seq uint64) []byte  { return binary.BigEndian.AppendUint64([]byte{'d'}, seq) }
func metaKey(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'m'}, seq) }

// meta is the small per-record summary kept beside each record.
type meta struct {
	appended, minCT, maxCT int64 // Unix ns (0: none)
	changes, bytes         uint32
	cumChanges, cumBytes   uint64 // over every record ever appended, this one included
}

const metaLen = 48

func (m meta) encode() []byte {
	b := make([]byte, 0, metaLen)
	b = binary.BigEndian.AppendUint64(b, uint64(m.appended))
	b = binary.BigEndian.AppendUint64(b, uint64(m.minCT))
	b = binary.BigEndian.AppendUint64(b, uint64(m.maxCT))
	b = binary.BigEndian.AppendUint32(b, m.changes)
	b = binary.BigEndian.AppendUint32(b, m.bytes)
	b = binary.BigEndian.AppendUint64(b, m.cumChanges)
	b = binary.BigEndian.AppendUint64(b, m.cumBytes)
	return b
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) != metaLen {
		return meta{}, fmt.Errorf("%w: meta of %d bytes", ErrCorrupt, len(b))
	}
	u := binary.BigEndian.Uint64
	return meta{appended: int64(u(b)), minCT: int64(u(b[8:])), maxCT: int64(u(b[16:])),
		changes: binary.BigEndian.Uint32(b[24:]), bytes: binary.BigEndian.Uint32(b[28:]),
		cumChanges: u(b[32:]), cumBytes: u(b[40:])}, nil
}

// Rewind is a rewind in force: readers of an older epoch start again at Seq (dropping the
// first Skip changes of that record). Records below Until were delivered before the rewind:
// reading them again is a replay.
type Rewind struct {
	Epoch uint32    `json:"epoch"`
	Seq   uint64    `json:"seq"`
	Skip  int       `json:"skip"`
	Until uint64    `json:"until"`
	To    time.Time `json:"to"`
	At    time.Time `json:"at"`
}

// Store is the durable local log of source batches (pebble). Records are numbered from 1 in
// append order; [first, next) are retained.
type Store struct {
	opts  Options
	db    *pebble.DB
	cache *pebble.Cache
	log   *zap.Logger
	id    uint64

	trimMu      sync.Mutex // one trim at a time
	reclaimedAt time.Time  // the last reclaim (trimMu)

	mu       sync.Mutex
	first    uint64 // oldest retained record
	next     uint64 // the next record's number
	durable  uint64 // records below it are synced
	base     meta   // cumulative counters before first (only cum* used)
	last     meta   // the newest record's meta (zero when none ever)
	oldestCT int64  // commit time of the oldest retained change (0: none)
	src      change.Position
	rewind   *Rewind
	// delivered: records below it were delivered (the writer's saved checkpoint); trims
	// never pass it.
	delivered uint64
	changed   chan struct{} // closed and replaced on every change of the above
	closed    bool
	waiting   string // why the reader waits (max_bytes, disk), "" when it does not
}

// OpenStore opens (or creates) the store in opts.Dir. Pebble replays its write-ahead log: a
// record torn by a crash fails the WAL's checksum and is cut with everything after it.
func OpenStore(opts Options) (*Store, error) {
	if opts.Duration <= 0 {
		opts.Duration = DefaultDuration
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MinFree <= 0 {
		opts.MinFree = DefaultMinFree
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("retention: create %s: %w", opts.Dir, err)
	}
	cache := pebble.NewCache(cacheBytes)
	po := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                memtableBytes,
		MemTableStopWritesThreshold: memtables,
		MaxOpenFiles:                256,
		Logger:                      pebbleLogger{opts.Logger.Sugar()},
	}
	db, err := pebble.Open(opts.Dir, po)
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("retention: open store %s: %w", opts.Dir, err)
	}
	s := &Store{opts: opts, db: db, cache: cache, log: opts.Logger, changed: make(chan struct{})}
	if err := s.load(); err != nil {
		_ = db.Close()
		cache.Unref()
		return nil, fmt.Errorf("retention: store %s: %w", opts.Dir, err)
	}
	return s, nil
}

type pebbleLogger struct{ l *zap.SugaredLogger }

func (p pebbleLogger) Infof(format string, args ...any)  { p.l.Debugf("pebble: "+format, args...) }
func (p pebbleLogger) Errorf(format string, args ...any) { p.l.Warnf("pebble: "+format, args...) }
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Errorf("pebble: "+format, args...)
	panic(fmt.Sprintf("pebble: "+format, args...))
}

func (s *Store) get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

func (s *Store) load() error {
	id, err := s.get(keyID)
	if err != nil {
		return err
	}
	if len(id) != 8 {
		id = make([]byte, 8)
		_, _ = rand.Read(id)
		if err := s.db.Set(keyID, id, pebble.Sync); err != nil {
			return err
		}
	}
	s.id = binary.BigEndian.Uint64(id)
	s.first = 1
	if v, err := s.get(keyFirst); err != nil {
		return err
	} else if len(v) == 8+metaLen {
		s.first = binary.BigEndian.Uint64(v)
		if s.base, err = decodeMeta(v[8:]); err != nil {
			return err
		}
	}
	if s.src, err = s.get(keySource); err != nil {
		return err
	}
	if v, err := s.get(keyRewind); err != nil {
		return err
	} else if v != nil {
		var r Rewind
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: rewind marker: %v", ErrCorrupt, err)
		}
		s.rewind = &r
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: metaKey(s.first), UpperBound: []byte{'n'}})
	if err != nil {
		return err
	}
	s.next = s.first
	if it.Last() {
		seq := binary.BigEndian.Uint64(it.Key()[1:])
		m, err := decodeMeta(it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("record %d: %w", seq, err)
		}
		s.next, s.last = seq+1, m
	} else {
		s.last = s.base
	}
	if err := it.Close(); err != nil {
		return err
	}
	s.durable = s.next
	s.delivered = s.first
	s.oldestCT = s.findOldestCT(s.first)
	// What the WAL replay recovered is synced before anyone is told it is durable.
	return s.db.LogData([]byte("open"), pebble.Sync)
}

// findOldestCT returns the commit time of the oldest retained record from first on that has
// one.
func (s *Store) findOldestCT(first uint64) int64 {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: metaKey(first), UpperBound: []byte{'n'}})
	if err != nil {
		return 0
	}
	defer it.Close()
	for ok, n := it.First(), 0; ok && n < 1024; ok, n = it.Next(), n+1 {
		if m, err := decodeMeta(it.Value()); err == nil && m.minCT != 0 {
			return m.minCT
		}
	}
	return 0
}

// Close closes the store.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.notifyLocked()
	s.mu.Unlock()
	err := s.db.Close()
	s.cache.Unref()
	return err
}

func (s *Store) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.opts.Dir }

// ID identifies the store: positions of another store are refused.
func (s *Store) ID() uint64 { return s.id }

// SourcePosition returns where the source resumes: the position after the newest batch
// stored (nil when the store never had one).
func (s *Store) SourcePosition() change.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src
}

// Empty reports whether the store has never stored anything, not even a source position.
func (s *Store) Empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src == nil && s.next == 1
}

// Reset forgets every record and sets the source position (a checkpoint of the source
// older than the store: retention was turned on again after running without it).
func (s *Store) Reset(src change.Position) error {
	s.trimMu.Lock() // no trim meanwhile: it would set first and base from before the reset
	defer s.trimMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.DeleteRange(recKey(0), recKey(s.next), nil)
	_ = b.DeleteRange(metaKey(0), metaKey(s.next), nil)
	_ = b.Set(keyFirst, append(binary.BigEndian.AppendUint64(nil, s.next), s.last.encode()...), nil)
	_ = b.Set(keySource, src, nil)
	_ = b.Delete(keyRewind, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	s.first, s.base, s.src, s.rewind, s.delivered, s.oldestCT = s.next, s.last, src, nil, s.next, 0
	s.notifyLocked()
	return nil
}

// appendBatch stores one source batch (no fsync: Sync makes it durable). A batch without
// changes only moves the source position.
func (s *Store) appendBatch(val []byte, src change.Position, changes []*change.Change, now time.Time) (uint64, error) {
	s.mu.Lock()
	seq := s.next
	last := s.last
	s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	var m meta
	if len(changes) > 0 {
		m = meta{appended: now.UnixNano(), changes: uint32(len(changes)), bytes: uint32(len(val))}
		for _, c := range changes {
			if c.CommitTime.IsZero() {
				continue
			}
			t := c.CommitTime.UnixNano()
			if m.minCT == 0 || t < m.minCT {
				m.minCT = t
			}
			if t > m.maxCT {
				m.maxCT = t
			}
		}
		m.cumChanges = last.cumChanges + uint64(len(changes))
		m.cumBytes = last.cumBytes + uint64(len(val))
		_ = b.Set(recKey(seq), val, nil)
		_ = b.Set(metaKey(seq), m.encode(), nil)
	}
	_ = b.Set(keySource, src, nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src = append(change.Position(nil), src...)
	if len(changes) > 0 {
		s.next, s.last = seq+1, m
		if s.oldestCT == 0 {
			s.oldestCT = m.minCT
		}
	}
	return seq, nil
}

// Sync makes everything appended so far durable, and readers see it.
func (s *Store) Sync() error {
	s.mu.Lock()
	upto := s.next
	s.mu.Unlock()
	if err := s.db.LogData([]byte("sync"), pebble.Sync); err != nil {
		return err
	}
	s.mu.Lock()
	if upto > s.durable {
		s.durable = upto
		s.notifyLocked()
	}
	s.mu.Unlock()
	return nil
}

// record reads record seq.
func (s *Store) record(d *decoder, seq uint64) (*decoded, error) {
	v, closer, err := s.db.Get(recKey(seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("retention: record %d is not in the store %s", seq, s.opts.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("retention: read record %d: %w", seq, err)
	}
	defer closer.Close()
	rec, err := d.decodeBatch(v)
	if err != nil {
		return nil, fmt.Errorf("retention: record %d of %s: %w", seq, s.opts.Dir, err)
	}
	return rec, nil
}

func (s *Store) metaOf(seq uint64) (meta, bool) {
	v, err := s.get(metaKey(seq))
	if err != nil || v == nil {
		return meta{}, false
	}
	m, err := decodeMeta(v)
	return m, err == nil
}

// setDelivered moves the trim guard: records below seq were delivered.
func (s *Store) setDelivered(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq != s.delivered {
		s.delivered = seq
		s.notifyLocked()
	}
}

// bytesLocked is the retained records' bytes.
func (s *Store) bytesLocked() int64 { return int64(s.last.cumBytes - s.base.cumBytes) }

// trim drops the oldest delivered records that are older than the retention duration, or,
// while the retained bytes plus need exceed MaxBytes, any delivered ones. It returns how
// many it dropped.
func (s *Store) trim(now time.Time, need int64) (int, error) {
	s.trimMu.Lock()
	defer s.trimMu.Unlock()
	s.mu.Lock()
	first, guard, total := s.first, min(s.delivered, s.durable), s.bytesLocked()
	s.mu.Unlock()
	if first >= guard {
		return 0, nil
	}
	cutoff := now.Add(-s.opts.Duration).UnixNano()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: metaKey(first), UpperBound: metaKey(guard)})
	if err != nil {
		return 0, err
	}
	k := first
	var lastM meta
	for ok := it.First(); ok; ok = it.Next() {
		m, err := decodeMeta(it.Value())
		if err != nil {
			break
		}
		if m.appended >= cutoff && total+need <= s.opts.MaxBytes {
			break
		}
		total -= int64(m.bytes)
		lastM = m
		k = binary.BigEndian.Uint64(it.Key()[1:]) + 1
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if k == first {
		return 0, nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.DeleteRange(recKey(first), recKey(k), nil)
	_ = b.DeleteRange(metaKey(first), metaKey(k), nil)
	_ = b.Set(keyFirst, append(binary.BigEndian.AppendUint64(nil, k), lastM.encode()...), nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.first, s.base = k, lastM
	s.mu.Unlock()
	oldest := s.findOldestCT(k)
	s.mu.Lock()
	s.oldestCT = oldest
	s.notifyLocked()
	s.mu.Unlock()
	return int(k - first), nil
}

// reclaimEvery bounds how often a waiting reader compacts the store (reclaim).
const reclaimEvery = 2 * time.Second

// reclaim gives the space of the trimmed records back to the file system now: it flushes the
// memtable and compacts the key range below the oldest retained record, which pebble's own
// compactions would get to only later, or not while nothing is written. Without it a reader
// that waits for disk space could wait for good, although the store dropped everything it
// could (the deleted records still take their place in the files). At most once every
// reclaimEvery; a failure is logged and the reader waits on.
func (s *Store) reclaim() {
	s.trimMu.Lock()
	defer s.trimMu.Unlock()
	if time.Since(s.reclaimedAt) < reclaimEvery {
		return
	}
	s.reclaimedAt = time.Now()
	s.mu.Lock()
	first := s.first
	s.mu.Unlock()
	if first == 0 {
		return
	}
	before, _ := s.freeBytes()
	if err := s.db.Flush(); err != nil {
		s.log.Warn("retention: flush to reclaim disk space failed", zap.Error(err))
		return
	}
	for _, r := range [][2][]byte{{recKey(0), recKey(first)}, {metaKey(0), metaKey(first)}} {
		if err := s.db.Compact(r[0], r[1], false); err != nil {
			s.log.Warn("retention: compaction to reclaim disk space failed", zap.Error(err))
			return
		}
	}
	after, _ := s.freeBytes()
	s.log.Info("retention: compacted the trimmed records to reclaim disk space",
		zap.Int64("freed_bytes", after-before), zap.Int64("free_bytes", after))
}

// Window is the retained window.
type Window struct {
	// Oldest and Newest are the commit times of the oldest and the newest retained change
	// (zero when none).
	Oldest, Newest time.Time
	// First and Last are the retained records' numbers (Last < First: none).
	First, Last uint64
}

func (w Window) String() string {
	if w.Last < w.First || w.Oldest.IsZero() {
		return "the retention window is empty"
	}
	return fmt.Sprintf("the retention window is %s .. %s", w.Oldest.UTC().Format(time.RFC3339Nano), w.Newest.UTC().Format(time.RFC3339Nano))
}

// Window returns the retained window.
func (s *Store) Window() Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windowLocked()
}

func (s *Store) windowLocked() Window {
	w := Window{First: s.first, Last: s.next - 1}
	if s.oldestCT != 0 {
		w.Oldest = time.Unix(0, s.oldestCT).UTC()
	}
	if s.next > s.first && s.last.maxCT != 0 {
		w.Newest = time.Unix(0, s.last.maxCT).UTC()
	}
	return w
}

// ErrOutsideWindow is returned for a rewind time the store does not cover.
var ErrOutsideWindow = errors.New("outside the retention window")

// Find returns the first retained change committed at or after t: its record and its index
// in the record. A t before the oldest retained change or after the newest is refused with
// the window.
func (s *Store) Find(t time.Time) (seq uint64, skip int, err error) {
	s.mu.Lock()
	w := s.windowLocked()
	durable := s.durable
	s.mu.Unlock()
	if w.Oldest.IsZero() || t.Before(w.Oldest) || t.After(w.Newest) {
		return 0, 0, fmt.Errorf("rewind to %s: %w: %s", t.UTC().Format(time.RFC3339Nano), ErrOutsideWindow, w)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: metaKey(w.First), UpperBound: metaKey(durable)})
	if err != nil {
		return 0, 0, err
	}
	defer it.Close()
	tn := t.UnixNano()
	for ok := it.First(); ok; ok = it.Next() {
		m, err := decodeMeta(it.Value())
		if err != nil {
			return 0, 0, err
		}
		if m.maxCT < tn {
			continue
		}
		seq = binary.BigEndian.Uint64(it.Key()[1:])
		rec, err := s.record(&decoder{}, seq)
		if err != nil {
			return 0, 0, err
		}
		for i, c := range rec.changes {
			if !c.CommitTime.IsZero() && !c.CommitTime.Before(t) {
				return seq, i, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("rewind to %s: %w: %s", t.UTC().Format(time.RFC3339Nano), ErrOutsideWindow, w)
}

// currentRewind returns the rewind in force (nil: none).
func (s *Store) currentRewind() *Rewind {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rewind == nil {
		return nil
	}
	r := *s.rewind
	return &r
}

// setRewind records a rewind durably and lowers the trim guard to it.
func (s *Store) setRewind(r Rewind) error {
	v, _ := json.Marshal(r)
	if err := s.db.Set(keyRewind, v, pebble.Sync); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rewind = &r
	s.delivered = min(s.delivered, r.Seq)
	s.notifyLocked()
	return nil
}

// RewindTo records, for a stopped pipeline, a rewind to the first change committed at or
// after t; writerNext is the first record the writer had not delivered (its checkpoint),
// curEpoch the epoch of that checkpoint. The pipeline applies it at its next start.
func (s *Store) RewindTo(t time.Time, writerNext uint64, curEpoch uint32) (Rewind, error) {
	seq, skip, err := s.Find(t)
	if err != nil {
		return Rewind{}, err
	}
	epoch := curEpoch
	if r := s.currentRewind(); r != nil && r.Epoch > epoch {
		epoch = r.Epoch
	}
	r := Rewind{Epoch: epoch + 1, Seq: seq, Skip: skip, Until: writerNext, To: t.UTC(), At: time.Now().UTC()}
	return r, s.setRewind(r)
}

// freeBytes returns the free space of the store's file system.
func (s *Store) freeBytes() (int64, error) { return freeSpace(s.opts.Dir) }

// DiskBytes returns the bytes of the store's files.
func (s *Store) DiskBytes() int64 {
	var n int64
	_ = filepath.WalkDir(s.opts.Dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Stats describes the store.
type Stats struct {
	Window Window
	// Records, Changes and Bytes are what is retained.
	Records, Changes uint64
	Bytes            int64
	// LeadRecords, LeadChanges and LeadBytes are what the reader stored and the writer has
	// not delivered yet (its saved checkpoint).
	LeadRecords, LeadChanges uint64
	LeadBytes                int64
	// Waiting says why the reader waits ("" when it does not).
	Waiting string
	// Rewind is the last rewind (nil: none).
	Rewind *Rewind
}

// Stats returns the store's figures.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	st := Stats{Window: s.windowLocked(), Records: s.next - s.first, Changes: s.last.cumChanges - s.base.cumChanges,
		Bytes: s.bytesLocked(), Waiting: s.waiting}
	delivered, next, last, base := s.delivered, s.next, s.last, s.base
	if s.rewind != nil {
		r := *s.rewind
		st.Rewind = &r
	}
	s.mu.Unlock()
	if delivered < next {
		st.LeadRecords = next - delivered
		before := base
		if delivered > 1 {
			if m, ok := s.metaOf(delivered - 1); ok {
				before = m
			}
		}
		st.LeadChanges = last.cumChanges - before.cumChanges
		st.LeadBytes = int64(last.cumBytes - before.cumBytes)
	}
	return st
}

func (s *Store) setWaiting(why string) {
	s.mu.Lock()
	if s.waiting != why {
		s.waiting = why
		s.notifyLocked()
	}
	s.mu.Unlock()
}
