package oceanbase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pingcap/tidb/pkg/parser"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// spillRows is how many row changes of one transaction are buffered before they are
// delivered ahead of its commit (TxSize is then 0 and CommitTime the transaction's start);
// they are also delivered ahead once they take half of reader_memory (memBudget).
const spillRows = 8192

type evOrErr struct {
	ev   *replication.BinlogEvent
	err  error
	size int64 // counted against reader_memory until decoded
}

// item is one change waiting in the output queue, with the position after it.
type item struct {
	c     *change.Change
	pos   position
	noCut bool  // a batch must not end after this item (inside a snapshot chunk)
	size  int64 // counted against reader_memory until handed to the host
}

// txState is the transaction being decoded.
type txState struct {
	active     bool
	begin      bool // opened by an explicit BEGIN
	file       string
	pos        uint32 // offset of its first event
	gtidBefore string
	gtid       string
	start      time.Time
	seq        uint32 // selected row changes seen
	skip       uint32 // leading selected row changes already delivered before a restart
	all        uint32 // row changes of any table seen
	skipAll    uint32 // leading row changes (any table) passed before a restart; 0: use skip
	flushed    uint32 // row changes moved to the output queue before the commit
	flushedAll uint32 // all of the last row change moved to the output queue before the commit
	rows       []item
	bytes      int64        // reader_memory bytes of rows
	marks      []*chunkWork // snapshot chunks whose high watermark is in this transaction
	ddl        []*change.Change
	epoch      uint64 // schema-history epoch at its start (a restart inside it replays its DDL)
	thread     uint32 // session id from its BEGIN query event (0: none, as in MariaDB's GTID groups)
}

// binlog holds the replication connection and the decoder state.
type binlog struct {
	syncer   *replication.BinlogSyncer
	cancel   context.CancelFunc
	done     chan struct{}
	evCh     chan evOrErr
	file     string
	pos      uint32
	gset     mysql.GTIDSet
	gsetFull bool     // gset is the full set executed (else positions carry none: gtidset.go)
	resume   position // after the last complete transaction
	tx       txState
	nextSkip uint32
	nextAll  uint32
}

func (s *Source) syncerConfig() (replication.BinlogSyncerConfig, error) {
	host, port, err := net.SplitHostPort(s.cfg.BinlogAddress)
	if err != nil {
		return replication.BinlogSyncerConfig{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return replication.BinlogSyncerConfig{}, fmt.Errorf("binlog_address port: %w", err)
	}
	hb := s.cfg.HeartbeatInterval.D()
	if hb > 30*time.Second {
		hb = 30 * time.Second
	}
	if hb < time.Second {
		hb = time.Second
	}
	return replication.BinlogSyncerConfig{
		ServerID:                s.serverID,
		Flavor:                  s.flavor,
		Host:                    host,
		Port:                    uint16(p),
		User:                    s.cfg.binlogUser(),
		Password:                s.cfg.Password.Reveal(),
		TLSConfig:               s.cfg.binlogTLSConfig(),
		Charset:                 "utf8mb4",
		TimestampStringLocation: time.UTC,
		ParseTime:               true, // fromLog: no text made and parsed for most times
		RenderJSONAsMySQLText:   true,
		HeartbeatPeriod:         hb,
		ReadTimeout:             3*hb + 5*time.Second,
		DisableRetrySync:        true,
		// the client's own event buffer holds one parsed event: events are buffered (and
		// counted against reader_memory) in binlog.evCh
		EventCacheCount: 1,
		// rows events are buffered undecoded (deferRows), decoded when handled
		RowsEventDecodeFunc: deferRows,
		// go-mysql's own lines in ferry's log: warnings and errors as they are, its
		// progress chatter (each syncer created, connected, rotated, closed) at debug
		Logger: slog.New(infoAsDebug{s.log.With("component", "go-mysql").Handler()}),
		Dialer: s.binlogDialer(),
	}, nil
}

// checksumQuery is the question go-mysql's replication client asks when it registers.
const checksumQuery = "SHOW GLOBAL VARIABLES LIKE 'BINLOG_CHECKSUM'"

// checksumAnswerable asks the same of a variable every Binlog Service has: go-mysql needs only
// a non-empty value to tell the server it reads checksums (SET @master_binlog_checksum =
// 'NONE'); the Binlog Service's files are CRC32 and say so in their FORMAT_DESCRIPTION.
const checksumAnswerable = "SHOW GLOBAL VARIABLES LIKE 'gtid_mode'"

// binlogDialer is nil (go-mysql's own) unless binlog_address lacks binlog_checksum; then its
// connections rewrite the registration's checksum question (checksumConn).
func (s *Source) binlogDialer() client.Dialer {
	if !s.noChecksumVar {
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &checksumConn{Conn: c}, nil
	}
}

// checksumConn passes a replication connection through, except the first COM_QUERY packet
// carrying checksumQuery, which it sends as checksumAnswerable. go-mysql writes each packet
// with one Write (packet.Conn.WritePacket); the connection has no TLS and no compression (the
// Binlog Service offers neither).
type checksumConn struct {
	net.Conn
	done bool
}

func (c *checksumConn) Write(b []byte) (int, error) {
	if !c.done && len(b) == 5+len(checksumQuery) && b[4] == mysql.COM_QUERY && string(b[5:]) == checksumQuery {
		c.done = true
		n := 1 + len(checksumAnswerable)
		pkt := append([]byte{byte(n), byte(n >> 8), byte(n >> 16), b[3], mysql.COM_QUERY}, checksumAnswerable...)
		if _, err := c.Conn.Write(pkt); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// startBinlog connects the replication stream at p: by GTID when the server uses GTIDs and
// p has a set, else by file and offset. The first p.Skip selected row changes of the first
// transaction are dropped (already delivered).
func (s *Source) startBinlog(ctx context.Context, p position) error {
	cfg, err := s.syncerConfig()
	if err != nil {
		return err
	}
	full := s.completeGTID(ctx, &p)
	sy := replication.NewBinlogSyncer(cfg)
	var st *replication.BinlogStreamer
	b := &binlog{syncer: sy, file: p.File, pos: p.Pos, nextSkip: p.Skip, nextAll: p.All, gsetFull: full}
	b.resume = position{File: p.File, Pos: p.Pos, GTID: p.GTID, Epoch: p.Epoch, HasEpoch: p.HasEpoch}
	if s.gtidMode && p.GTID != "" {
		gs, perr := mysql.ParseGTIDSet(s.flavor, p.GTID)
		if perr != nil {
			sy.Close()
			return fmt.Errorf("position gtid %q: %w", p.GTID, perr)
		}
		b.gset = gs
		st, err = sy.StartSyncGTID(gs.Clone())
	} else {
		if s.gtidMode {
			b.gset, _ = mysql.ParseGTIDSet(s.flavor, "")
		}
		st, err = sy.StartSync(mysql.Position{Name: p.File, Pos: p.Pos})
	}
	if err != nil {
		sy.Close()
		return fmt.Errorf("start binlog stream at %s: %w", p.String(), s.binlogConnError(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done, b.evCh = cancel, make(chan struct{}), make(chan evOrErr, evChanCap)
	go receive(ctx, b, s.mem, st.GetEvent)
	s.bl = b
	return nil
}

// receive moves events from the replication client to b.evCh, each admitted by the
// reader_memory budget first, until an error (which it passes on) or ctx ends.
func receive(ctx context.Context, b *binlog, mem *memBudget, get func(context.Context) (*replication.BinlogEvent, error)) {
	defer close(b.done)
	for {
		ev, err := get(ctx)
		var size int64
		if err == nil {
			size = eventMemory(ev)
			if mem.admitEvent(ctx, size) != nil {
				return
			}
		}
		select {
		case b.evCh <- evOrErr{ev, err, size}:
		case <-ctx.Done():
			mem.eventDone(size)
			return
		}
		if err != nil {
			return
		}
	}
}

// eventMemory is what a buffered event holds in memory: about its size (a rows event holds
// its packet, undecoded: deferRows), plus the parsed event's own structures.
func eventMemory(ev *replication.BinlogEvent) int64 {
	n := int64(ev.Header.EventSize) + eventOverhead
	if re, ok := ev.Event.(*replication.RowsEvent); ok && !isDeferred(re) {
		// decoded images: every value boxed in an interface, texts and times copied out of
		// the packet, which the event keeps too
		cols := int64(re.ColumnCount)
		n += int64(ev.Header.EventSize) + int64(len(re.Rows))*(32+32*cols)
	}
	return n
}

// eventOverhead is what a parsed event holds besides its packet: the event header and the
// parsed event's struct (a rows event's is the largest, ~400 bytes).
const eventOverhead = 512

// deferredRows is the undecoded body of a rows event: data is the event's packet (after its
// header), pos where its rows start.
type deferredRows struct {
	data []byte
	pos  int
}

// deferRows is the replication client's decoder of rows events (its RowsEventDecodeFunc):
// it decodes the header (the table, the column bitmaps) and keeps the rows undecoded in the
// event, for decodeDeferred. Until the source handles an event it is buffered (binlog.evCh,
// up to half of reader_memory) as the packet's bytes, which the garbage collector does not
// scan, instead of every value boxed in an interface: with a 10-column debezium stream the
// decoded buffer made each collection mark tens of megabytes of small objects.
//
// The packet is the event's own (go-mysql reads every packet into a new slice).
func deferRows(re *replication.RowsEvent, data []byte) error {
	pos, err := re.DecodeHeader(data)
	if err != nil {
		return err
	}
	re.Rows = [][]any{{deferredRows{data: data, pos: pos}}}
	return nil
}

// isDeferred reports whether re's rows were left undecoded by deferRows.
func isDeferred(re *replication.RowsEvent) bool {
	if len(re.Rows) != 1 || len(re.Rows[0]) != 1 {
		return false
	}
	_, ok := re.Rows[0][0].(deferredRows)
	return ok
}

// decodeDeferred decodes the rows deferRows left undecoded (nothing when they are decoded).
func decodeDeferred(re *replication.RowsEvent) error {
	if !isDeferred(re) {
		return nil
	}
	d := re.Rows[0][0].(deferredRows)
	re.Rows = nil
	return re.DecodeData(d.pos, d.data)
}

func (s *Source) stopBinlog() {
	if s.bl == nil {
		return
	}
	s.bl.cancel()
	s.bl.syncer.Close()
	<-s.bl.done
	for { // events received and not decoded leave the budget
		select {
		case ev := <-s.bl.evCh:
			s.mem.eventDone(ev.size)
		default:
			return
		}
	}
}

// evChanCap bounds the count of buffered events; reader_memory bounds their bytes.
const evChanCap = 4096

// restartPoint is where a reconnect resumes: the open transaction's start (skipping what was
// already queued), else after the last complete transaction.
func (b *binlog) restartPoint() position {
	if b.tx.active {
		all := b.tx.skipAll
		if b.tx.flushed > 0 {
			all = b.tx.flushedAll
		}
		return position{File: b.tx.file, Pos: b.tx.pos, GTID: b.tx.gtidBefore, Skip: b.tx.skip + b.tx.flushed, All: all,
			Epoch: b.tx.epoch, HasEpoch: b.resume.HasEpoch}
	}
	return b.resume
}

// progress reports an event that shows the stream delivering the log (a transaction's
// event), unlike the fake ROTATE, FORMAT_DESCRIPTION, PREVIOUS_GTIDS and heartbeats a dump
// sends before it fails.
func progress(e *replication.BinlogEvent) bool {
	switch e.Event.(type) {
	case *replication.GTIDEvent, *replication.MariadbGTIDEvent, *replication.QueryEvent, *replication.XIDEvent,
		*replication.RowsEvent, *replication.TableMapEvent:
		return true
	}
	return false
}

// streamFatal decides after a stream error whether reconnecting may help: not after too many
// errors without progress, nor when the server refused the position twice in a row (1236:
// MySQL's "purged binary logs containing GTIDs", MariaDB's "Could not find GTID state", the
// OceanBase Binlog Service's "The requested gtid transaction no longer exists", an unknown
// file). nil means reconnect.
func (s *Source) streamFatal(err error) error {
	p := s.bl.restartPoint()
	var me *mysql.MyError
	if errors.As(err, &me) && me.Code == mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
		s.fatalStreak++
		if s.fatalStreak < 2 {
			return nil
		}
		msg := strings.ToLower(me.Message)
		if strings.Contains(msg, "no longer exist") || strings.Contains(msg, "purged") || strings.Contains(msg, "could not find") ||
			strings.Contains(msg, "cleaned up") {
			return sdk.Permanent(fmt.Errorf("%w: binlog_address %s refuses the position %s: %s (the Binlog Service purges by age and by size, "+
				"MySQL and MariaDB by expiry): the changes after it are lost to this pipeline; start it over with a new checkpoint directory "+
				"(mode both snapshots again; mode incremental starts at the end of the log or at start_timestamp)", ErrPurged, s.cfg.BinlogAddress, p.String(), me.Message))
		}
		return sdk.Permanent(fmt.Errorf("binlog_address %s refuses the position %s twice: %w", s.cfg.BinlogAddress, p.String(), err))
	}
	if s.errStreak > s.maxReconnects {
		return fmt.Errorf("binlog stream at %s failed %d times without delivering a transaction: %w", p.String(), s.errStreak, err)
	}
	return nil
}

// reconnect re-opens the binlog stream after an error, with backoff.
func (s *Source) reconnect(ctx context.Context, cause error) error {
	p := s.bl.restartPoint()
	if s.bl.tx.active && len(s.bl.tx.rows) > 0 {
		// rows decoded but not queued are read again
		s.releaseItems(s.bl.tx.rows)
		s.bl.tx.rows, s.bl.tx.bytes = nil, 0
	}
	gset := s.bl.gset
	s.stopBinlog()
	s.log.Warn("binlog stream lost, reconnecting", "position", p.String(), "error", cause)
	delay := 200 * time.Millisecond
	var err error
	for attempt := 1; attempt <= s.maxReconnects; attempt++ {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if err = s.startBinlog(ctx, p); err == nil {
			if s.bl.gset == nil {
				s.bl.gset = gset
			}
			s.reconnects.Add(1)
			s.log.Info("binlog stream reconnected", "position", p.String(), "attempt", attempt)
			return nil
		}
		s.log.Warn("binlog reconnect failed", "position", p.String(), "attempt", attempt, "of", s.maxReconnects, "error", err)
		delay = min(delay*2, 5*time.Second)
	}
	return fmt.Errorf("binlog stream lost (%v) and %d reconnects at %s failed: %w", cause, s.maxReconnects, p.String(), err)
}

// handle decodes one binlog event.
func (s *Source) handle(ctx context.Context, e *replication.BinlogEvent) error {
	b := s.bl
	h := e.Header
	before := b.pos
	switch ev := e.Event.(type) {
	case *replication.RotateEvent:
		b.file, b.pos = string(ev.NextLogName), uint32(ev.Position)
		if !b.tx.active {
			b.resume.File, b.resume.Pos = b.file, b.pos
		}
		return nil
	case *replication.FormatDescriptionEvent:
		return nil
	case *replication.PreviousGTIDsEvent:
		// The set executed before this file: with it the set becomes known (gtidset.go).
		if !b.gsetFull && s.flavor != mysql.MariaDBFlavor && s.gtidMode {
			set, err := mysql.ParseMysqlGTIDSet(ev.GTIDSets)
			if err != nil {
				return fmt.Errorf("PREVIOUS_GTIDS %q: %w", ev.GTIDSets, err)
			}
			b.gset, b.gsetFull = set, true
			if !b.tx.active {
				b.resume.GTID = set.String()
			}
		}
	case *replication.MariadbGTIDEvent:
		s.beginTx(before, h.Timestamp)
		b.tx.gtid = ev.GTID.String()
		// a group without FL_STANDALONE ends with a COMMIT or XID event, even when it starts
		// with DDL (CREATE TABLE ... SELECT logs the CREATE, then the rows)
		b.tx.begin = !ev.IsStandalone()
	case *replication.GTIDEvent:
		s.beginTx(before, h.Timestamp)
		if g, err := ev.GTIDNext(); err == nil {
			b.tx.gtid = g.String()
		}
	case *replication.QueryEvent:
		q := strings.TrimSpace(string(ev.Query))
		switch {
		case strings.EqualFold(q, "BEGIN"):
			if !b.tx.active {
				s.beginTx(before, h.Timestamp)
			}
			b.tx.begin = true
			b.tx.thread = ev.SlaveProxyID
		case strings.EqualFold(q, "COMMIT"):
			b.advance(h)
			return s.commitTx(h.Timestamp)
		default:
			if !b.tx.active {
				s.beginTx(before, h.Timestamp)
			}
			if err := s.handleQuery(ctx, string(ev.Schema), q, h.Timestamp); err != nil {
				return err
			}
			if startsTransaction(q) {
				// MySQL 8 logs CREATE TABLE ... SELECT as "CREATE TABLE ... START
				// TRANSACTION", the rows, then XID
				b.tx.begin = true
			}
			if !b.tx.begin {
				b.advance(h)
				return s.commitTx(h.Timestamp)
			}
		}
	case *replication.XIDEvent:
		b.advance(h)
		return s.commitTx(h.Timestamp)
	case *replication.RowsEvent:
		if err := decodeDeferred(ev); err != nil {
			return fmt.Errorf("decode the rows event of %s.%s at %s:%d: %w", ev.Table.Schema, ev.Table.Table, b.file, h.LogPos, err)
		}
		if !b.tx.active {
			s.beginTx(before, h.Timestamp)
		}
		if err := s.handleRows(h, ev); err != nil {
			return err
		}
	}
	b.advance(h)
	return nil
}

// gtidString is the GTID set executed so far, "" while it is not known to be full.
func (b *binlog) gtidString() string {
	if b.gset == nil || !b.gsetFull {
		return ""
	}
	return b.gset.String()
}

// advance moves the read offset to the end of the event (events with offset 0 are
// artificial, heartbeats and format descriptions do not move it).
func (b *binlog) advance(h *replication.EventHeader) {
	if h.LogPos == 0 || h.EventType == replication.HEARTBEAT_EVENT || h.EventType == replication.HEARTBEAT_LOG_EVENT_V2 {
		return
	}
	if h.LogPos >= b.pos {
		b.pos = h.LogPos
	}
}

func (s *Source) beginTx(before uint32, ts uint32) {
	b := s.bl
	gb := b.gtidString()
	b.tx = txState{active: true, file: b.file, pos: before, gtidBefore: gb, start: time.Unix(int64(ts), 0).UTC(),
		skip: b.nextSkip, skipAll: b.nextAll, epoch: s.hist.current()}
	b.nextSkip, b.nextAll = 0, 0
}

func (s *Source) commitTx(ts uint32) error {
	b := s.bl
	tx := &b.tx
	if !tx.active {
		b.resume = position{File: b.file, Pos: b.pos, GTID: b.resume.GTID, Epoch: s.hist.current(), HasEpoch: b.resume.HasEpoch}
		return nil
	}
	if tx.gtid != "" && b.gset != nil {
		if err := b.gset.Update(tx.gtid); err != nil {
			return fmt.Errorf("gtid %s: %w", tx.gtid, err)
		}
	}
	b.resume = position{File: b.file, Pos: b.pos, GTID: b.gtidString(), Epoch: s.hist.current(), HasEpoch: b.resume.HasEpoch}
	commit := time.Unix(int64(ts), 0).UTC()
	spilled := tx.flushed > 0
	for i := range tx.rows {
		c := tx.rows[i].c
		if !spilled {
			c.CommitTime = commit
			c.TxSize = tx.seq
		}
		tx.rows[i].pos.Snap = s.snap
		if i == len(tx.rows)-1 {
			tx.rows[i].pos = s.resumePos()
		}
		s.setPosition(&tx.rows[i])
		s.out = append(s.out, tx.rows[i])
	}
	for _, d := range tx.ddl {
		d.CommitTime = commit
		p := s.resumePos()
		d.Position = p.encode()
		it := item{c: d, pos: p}
		s.resize(&it)
		s.out = append(s.out, it)
	}
	for _, w := range tx.marks {
		s.emitChunk(w)
	}
	*tx = txState{}
	return nil
}

// resumePos is the position after everything decoded so far (at a transaction boundary).
func (s *Source) resumePos() position {
	p := s.bl.resume
	p.Snap = s.snap
	return p
}

func (s *Source) txID() string {
	tx := &s.bl.tx
	if tx.gtid != "" {
		return tx.gtid
	}
	return tx.file + ":" + strconv.FormatUint(uint64(tx.pos), 10)
}

func (s *Source) handleRows(h *replication.EventHeader, ev *replication.RowsEvent) error {
	db, name := string(ev.Table.Schema), string(ev.Table.Table)
	key := strings.ToLower(db + "." + name)
	tx := &s.bl.tx
	if s.wm != nil && key == s.wmKey {
		tx.all += rowCount(ev)
		return s.handleWatermark(ev)
	}
	tb, selected := s.tables[key]
	if !selected {
		tx.all += rowCount(ev)
		return nil
	}
	if tb == nil {
		return fmt.Errorf("row change for %s.%s, which was dropped and not re-created (schema unknown)", db, name)
	}
	if err := s.checkTableMap(tb, ev.Table); err != nil {
		return err
	}
	op, step, err := rowsOp(h, ev, tb)
	if err != nil {
		return err
	}
	meta := s.rowMeta(h, tb)
	for i := 0; i+step-1 < len(ev.Rows); i += step {
		tx.all++
		m := meta
		if i > 0 {
			// the row's index in its event (Debezium's source.row); the first row's is 0
			m = maps.Clone(meta)
			m[change.MetaBinlogRow] = strconv.Itoa(i / step)
		}
		c := &change.Change{Op: op, Table: tb.t, Database: tb.t.Database, TableName: tb.t.Name,
			CommitTime: tx.start, Meta: m}
		if err := s.decodeRows(c, tb, ev, i); err != nil {
			return fmt.Errorf("decode %s row of %s at %s:%d: %w", op, tb.name(), s.bl.file, h.LogPos, err)
		}
		tx.seq++
		if s.snapper != nil {
			s.snapper.track(key, tb, c)
		}
		if tx.skipAll > 0 {
			if tx.all <= tx.skipAll {
				continue // delivered before the restart
			}
		} else if tx.seq <= tx.skip {
			continue
		}
		s.queueRow(c)
	}
	if tx.bytes > s.mem.spillAt() {
		// the transaction's rows take half of reader_memory: deliver them ahead of its commit
		s.spill()
	}
	return nil
}

// rowsOp is the operation of a rows event and how many images each row has.
func rowsOp(h *replication.EventHeader, ev *replication.RowsEvent, tb *table) (op change.Op, step int, err error) {
	switch ev.Type() {
	case replication.EnumRowsEventTypeInsert:
		return change.OpInsert, 1, nil
	case replication.EnumRowsEventTypeUpdate:
		return change.OpUpdate, 2, nil
	case replication.EnumRowsEventTypeDelete:
		return change.OpDelete, 1, nil
	}
	return 0, 0, fmt.Errorf("unknown rows event %v for %s", h.EventType, tb.name())
}

// rowMeta is the binlog coordinates shared by the rows of one event (read-only once made):
// the transaction's start, as Debezium's source.file/pos give it.
func (s *Source) rowMeta(h *replication.EventHeader, tb *table) map[string]string {
	tx := &s.bl.tx
	meta := map[string]string{
		change.MetaBinlogFile: tx.file,
		change.MetaBinlogPos:  strconv.FormatUint(uint64(tx.pos), 10),
		change.MetaServerID:   strconv.FormatUint(uint64(h.ServerID), 10),
	}
	if tx.gtid != "" {
		meta[change.MetaGTID] = tx.gtid
	}
	if tb.t.Tenant != "" {
		meta[change.MetaTenant] = tb.t.Tenant
	}
	if tx.thread != 0 {
		meta[change.MetaThreadID] = strconv.FormatUint(uint64(tx.thread), 10)
	}
	return meta
}

// decodeRows decodes row i of ev (and i+1, an update's after image) into c's images.
func (s *Source) decodeRows(c *change.Change, tb *table, ev *replication.RowsEvent, i int) error {
	var err error
	switch c.Op {
	case change.OpInsert:
		c.After, err = s.decodeRow(tb, ev.Rows[i])
	case change.OpDelete:
		c.Before, err = s.decodeRow(tb, ev.Rows[i])
	case change.OpUpdate:
		if c.Before, err = s.decodeRow(tb, ev.Rows[i]); err == nil {
			c.After, err = s.decodeRow(tb, ev.Rows[i+1])
		}
	}
	if err != nil {
		return err
	}
	if tb.hasJSON {
		binaryJSONText(tb, ev.Table, c.Before)
		binaryJSONText(tb, ev.Table, c.After)
	}
	return nil
}

// queueRow gives c its id and position in the open transaction and queues it with the
// transaction's rows (handed over at its commit, or ahead of it to stay within memory).
func (s *Source) queueRow(c *change.Change) {
	tx := &s.bl.tx
	c.TxID = s.txID()
	c.TxSeq = tx.seq
	c.ID = c.TxID + "#" + strconv.FormatUint(uint64(tx.seq), 10)
	it := item{c: c, pos: position{File: tx.file, Pos: tx.pos, GTID: tx.gtidBefore, Skip: tx.seq, All: tx.all,
		Epoch: tx.epoch, HasEpoch: s.bl.resume.HasEpoch}}
	it.size = itemSize(c)
	s.mem.addQueued(it.size)
	tx.bytes += it.size
	tx.rows = append(tx.rows, it)
	if len(tx.rows) >= spillRows {
		s.spill()
	}
}

// rowCount is the number of row changes in a rows event.
func rowCount(ev *replication.RowsEvent) uint32 {
	if ev.Type() == replication.EnumRowsEventTypeUpdate {
		return uint32(len(ev.Rows) / 2)
	}
	return uint32(len(ev.Rows))
}

// resize recounts a queued change against reader_memory after its position was set.
func (s *Source) resize(it *item) {
	n := itemSize(it.c)
	s.mem.addQueued(n - it.size)
	it.size = n
}

// setPosition gives a queued row its encoded position (it.pos) and counts the difference:
// the size of a change grows by its position's bytes and nothing else (change.ApproxSize),
// so the row need not be sized again.
func (s *Source) setPosition(it *item) {
	p := it.pos.encode()
	d := int64(len(p) - len(it.c.Position))
	it.c.Position = p
	s.mem.addQueued(d)
	it.size += d
}

// releaseItems forgets dropped items' bytes.
func (s *Source) releaseItems(its []item) {
	var n int64
	for i := range its {
		n += its[i].size
	}
	s.mem.addQueued(-n)
}

// startsTransaction reports a DDL statement that opens a transaction (MySQL 8's logging of
// CREATE TABLE ... SELECT ends it with START TRANSACTION).
func startsTransaction(q string) bool {
	toks := tokenize(q)
	n := len(toks)
	return n >= 3 && !toks[n-1].quoted && !toks[n-2].quoted && strings.EqualFold(toks[n-2].s, "START") &&
		strings.EqualFold(toks[n-1].s, "TRANSACTION") && strings.EqualFold(toks[0].s, "CREATE")
}

// spill moves a long transaction's buffered rows to the output queue before its commit.
func (s *Source) spill() {
	tx := &s.bl.tx
	if len(tx.rows) == 0 {
		return
	}
	for i := range tx.rows {
		tx.rows[i].pos.Snap = s.snap
		s.setPosition(&tx.rows[i])
		s.out = append(s.out, tx.rows[i])
	}
	tx.flushed += uint32(len(tx.rows))
	tx.flushedAll = tx.rows[len(tx.rows)-1].pos.All
	clear(tx.rows) // the output queue holds them now
	tx.rows = tx.rows[:0]
	tx.bytes = 0
}

// binaryJSONText gives the JSON values a binary-JSON column (MySQL 8, the OceanBase Binlog
// Service; not MariaDB, which logs JSON as text) decoded from the log MySQL's text form, the
// form a SELECT of the column returns: go-mysql renders the binary document without the
// space MySQL prints after each ',' and ':', so without this the snapshot and the stream
// would give the same document two texts.
func binaryJSONText(tb *table, tm *replication.TableMapEvent, row []change.Value) {
	for ci, v := range row {
		if tb.kinds[ci] != kJSON || v.Kind() != change.KindJSON {
			continue
		}
		li := ci
		if tb.logCols != nil && int(tm.ColumnCount) == len(tb.logCols) {
			li = slices.Index(tb.logCols, ci)
		}
		if li >= 0 && li < len(tm.ColumnType) && tm.ColumnType[li] == mysql.MYSQL_TYPE_JSON {
			row[ci] = change.NewJSON(mysqlJSONSpacing(v.Str()))
		}
	}
}

// mysqlJSONSpacing inserts MySQL's ", " and ": " separators into compact JSON text (outside
// strings; text that already has them is unchanged), and writes each double (a number with a
// fraction or an exponent) as MySQL prints it (mysqlJSONDouble): go-mysql writes a whole
// double in fixed notation whatever its size (1e300 as 301 digits and ".0") and small ones
// with Go's exponent (1.5e-05).
func mysqlJSONSpacing(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	in, esc := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !in && (c == '-' || c >= '0' && c <= '9') {
			j := i + 1
			for j < len(s) && strings.IndexByte("0123456789+-.eE", s[j]) >= 0 {
				j++
			}
			tok := s[i:j]
			if strings.ContainsAny(tok, ".eE") {
				if f, err := strconv.ParseFloat(tok, 64); err == nil {
					tok = mysqlJSONDouble(f)
				}
			}
			b.WriteString(tok)
			i = j - 1
			continue
		}
		b.WriteByte(c)
		switch {
		case in && esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == ',' || c == ':') && (i+1 >= len(s) || s[i+1] != ' '):
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// mysqlJSONDouble is a JSON double as MySQL's JSON text writes it: my_gcvt(d,
// MY_GCVT_ARG_DOUBLE, MY_GCVT_MAX_FIELD_WIDTH) (strings/dtoa.cc: the shortest digits; fixed
// notation when it fits the width, the value is at least 1e-15 and, above 1e15, not an
// integer; else d.ddde[-]x), then ".0" when that has neither a point nor an exponent
// (json_dom.cc), so 1.0 stays a double: 1e300, 1.5e-16, 0.000015, 100000000000000.0, 1e15.
func mysqlJSONDouble(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "null" // not storable in a JSON column
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0" // dtoa reports the sign of a negative zero
		}
		return "0.0"
	}
	const maxDecptFixed, fieldWidth = 15, 15 + 4 + 15 // MAX_DECPT_FOR_F_FORMAT, MY_GCVT_MAX_FIELD_WIDTH
	neg := f < 0
	width := fieldWidth
	if neg {
		f, width = -f, width-1
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	decpt, n := x+1, len(digits) // value = 0.digits × 10^decpt
	flen := n + 1                // the 'f' form's length
	switch {
	case decpt <= 0:
		flen = 2 - decpt + n
	case decpt >= n:
		flen = decpt
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	if flen <= width && decpt >= -maxDecptFixed+1 && (decpt <= maxDecptFixed || n > decpt) {
		switch {
		case decpt <= 0:
			b.WriteString("0.")
			b.WriteString(strings.Repeat("0", -decpt))
			b.WriteString(digits)
		case decpt >= n:
			b.WriteString(digits)
			b.WriteString(strings.Repeat("0", decpt-n))
			b.WriteString(".0")
		default:
			b.WriteString(digits[:decpt])
			b.WriteByte('.')
			b.WriteString(digits[decpt:])
		}
		return b.String()
	}
	b.WriteByte(digits[0])
	if n > 1 {
		b.WriteByte('.')
		b.WriteString(digits[1:])
	}
	b.WriteByte('e')
	b.WriteString(strconv.Itoa(x))
	return b.String()
}

func (s *Source) decodeRow(tb *table, raw []any) ([]change.Value, error) {
	cols := tb.t.Columns
	out := make([]change.Value, len(cols))
	if tb.logCols != nil && len(raw) == len(tb.logCols) {
		for i, ci := range tb.logCols {
			v, err := fromLog(&cols[ci], tb.kinds[ci], raw[i])
			if err != nil {
				return nil, err
			}
			out[ci] = v
		}
		return out, nil
	}
	if len(raw) != len(cols) {
		return nil, fmt.Errorf("the binlog row has %d columns, the schema %d: %w", len(raw), len(cols), ErrSchemaOutOfStep)
	}
	for i := range cols {
		v, err := fromLog(&cols[i], tb.kinds[i], raw[i])
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// checkTableMap verifies, once per TABLE_MAP, that its column types fit the schema, so a
// schema that is out of step with the log is an error instead of wrong values.
//
// The cache is keyed by the table id and a hash of what the check reads (names, types, type
// metadata, the optional names and signedness), not by the event: the OceanBase Binlog
// Service writes one TABLE_MAP per row, and a check per row would cost more than the row.
func (s *Source) checkTableMap(tb *table, tm *replication.TableMapEvent) error {
	key := tableMapKey(tm)
	if s.checkedMaps[key] == tb {
		return nil
	}
	s.mapChecks++
	cols := tb.t.Columns
	idx := make([]int, 0, len(cols))
	if tb.logCols != nil && int(tm.ColumnCount) == len(tb.logCols) {
		idx = tb.logCols
	} else {
		if int(tm.ColumnCount) != len(cols) {
			return fmt.Errorf("TABLE_MAP of %s has %d columns, the schema %d: %w", tb.name(), tm.ColumnCount, len(cols), ErrSchemaOutOfStep)
		}
		for i := range cols {
			idx = append(idx, i)
		}
	}
	for i, ci := range idx {
		if !logTypeFits(tb.kinds[ci], realType(tm.ColumnType[i], tm.ColumnMeta[i])) {
			return fmt.Errorf("column %s of %s is %s in the schema but binlog type %d: %w",
				cols[ci].Name, tb.name(), cols[ci].ColumnType, tm.ColumnType[i], ErrSchemaOutOfStep)
		}
	}
	// With binlog_row_metadata=FULL (MySQL 8, MariaDB 10.5+) the log names its columns and
	// their signedness: the schema of the moment must agree (a reorder of equal types shows
	// only here).
	if names := tm.ColumnNameString(); len(names) == len(idx) {
		for i, ci := range idx {
			if !strings.EqualFold(names[i], cols[ci].Name) {
				return fmt.Errorf("column %d of %s is %s in the binlog but %s in the schema: %w",
					i+1, tb.name(), names[i], cols[ci].Name, ErrSchemaOutOfStep)
			}
		}
	}
	for i, unsigned := range tm.UnsignedMap() {
		if i < len(idx) && (tb.kinds[idx[i]] == kInt || tb.kinds[idx[i]] == kUint) && unsigned != cols[idx[i]].Unsigned {
			return fmt.Errorf("column %s of %s is %s in the schema but unsigned=%v in the binlog: %w",
				cols[idx[i]].Name, tb.name(), cols[idx[i]].ColumnType, unsigned, ErrSchemaOutOfStep)
		}
	}
	if s.checkedMaps == nil || len(s.checkedMaps) > 4096 {
		s.checkedMaps = map[tmKey]*table{}
	}
	s.checkedMaps[key] = tb
	return nil
}

// tmKey identifies a TABLE_MAP's content for checkTableMap's cache.
type tmKey struct {
	id   uint64
	hash uint64
}

func tableMapKey(tm *replication.TableMapEvent) tmKey {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	add := func(b []byte) {
		for _, x := range b {
			h = (h ^ uint64(x)) * prime
		}
		h = (h ^ 0xff) * prime // separator
	}
	add(tm.Schema)
	add(tm.Table)
	add(tm.ColumnType)
	for _, m := range tm.ColumnMeta {
		h = (h ^ uint64(m&0xff)) * prime
		h = (h ^ uint64(m>>8)) * prime
	}
	for _, n := range tm.ColumnName {
		add(n)
	}
	add(tm.SignednessBitmap)
	return tmKey{id: tm.TableID, hash: h}
}

func realType(tp byte, meta uint16) byte {
	if tp == mysql.MYSQL_TYPE_STRING && meta >= 256 {
		b0 := byte(meta >> 8)
		if b0&0x30 != 0x30 {
			return b0 | 0x30
		}
		return b0
	}
	return tp
}

func logTypeFits(k colKind, tp byte) bool {
	switch k {
	case kInt, kUint:
		return tp == mysql.MYSQL_TYPE_TINY || tp == mysql.MYSQL_TYPE_SHORT || tp == mysql.MYSQL_TYPE_INT24 ||
			tp == mysql.MYSQL_TYPE_LONG || tp == mysql.MYSQL_TYPE_LONGLONG
	case kFloat32:
		// FLOAT(p > 24) is logged as DOUBLE by the OceanBase Binlog Service while
		// information_schema still says float (float(30,10))
		return tp == mysql.MYSQL_TYPE_FLOAT || tp == mysql.MYSQL_TYPE_DOUBLE
	case kFloat64:
		return tp == mysql.MYSQL_TYPE_DOUBLE
	case kDecimal:
		return tp == mysql.MYSQL_TYPE_NEWDECIMAL
	case kDate:
		return tp == mysql.MYSQL_TYPE_DATE || tp == mysql.MYSQL_TYPE_NEWDATE
	case kDateTime:
		return tp == mysql.MYSQL_TYPE_DATETIME || tp == mysql.MYSQL_TYPE_DATETIME2
	case kTimestamp:
		return tp == mysql.MYSQL_TYPE_TIMESTAMP || tp == mysql.MYSQL_TYPE_TIMESTAMP2
	case kTime:
		return tp == mysql.MYSQL_TYPE_TIME || tp == mysql.MYSQL_TYPE_TIME2
	case kYear:
		return tp == mysql.MYSQL_TYPE_YEAR
	case kBit:
		return tp == mysql.MYSQL_TYPE_BIT
	case kEnum:
		return tp == mysql.MYSQL_TYPE_ENUM || tp == mysql.MYSQL_TYPE_STRING
	case kSet:
		return tp == mysql.MYSQL_TYPE_SET || tp == mysql.MYSQL_TYPE_STRING
	case kJSON:
		return tp == mysql.MYSQL_TYPE_JSON || tp == mysql.MYSQL_TYPE_BLOB
	case kString, kBytes, kBinaryFixed:
		return tp == mysql.MYSQL_TYPE_VARCHAR || tp == mysql.MYSQL_TYPE_VAR_STRING || tp == mysql.MYSQL_TYPE_STRING ||
			tp == mysql.MYSQL_TYPE_BLOB || tp == mysql.MYSQL_TYPE_GEOMETRY || tp == mysql.MYSQL_TYPE_TINY_BLOB ||
			tp == mysql.MYSQL_TYPE_MEDIUM_BLOB || tp == mysql.MYSQL_TYPE_LONG_BLOB
	}
	return true
}

// handleQuery tracks DDL on selected tables, and tables that DDL makes appear under a name
// the selection selects (see joins). The schemas it changes are recorded in the schema
// history, durably, before the statement's transaction is handed on. A statement that
// cannot be replayed on a table whose schema is tracked stops the stream: the schema after it
// is unknown, and decoding with a guess could put values in the wrong columns.
func (s *Source) handleQuery(ctx context.Context, defaultDB, q string, ts uint32) error {
	info := classifyQuery(defaultDB, q)
	if !info.isDDL {
		return nil
	}
	for _, n := range info.renamed {
		if _, ok := s.tables[strings.ToLower(n.String())]; ok {
			return fmt.Errorf("%w: %s is synchronized and %q renames it", ErrRename, n, q)
		}
	}
	at := s.bl.file + ":" + strconv.FormatUint(uint64(s.bl.pos), 10)
	renamedTo := map[string]bool{}
	for _, n := range info.renamedTo {
		renamedTo[strings.ToLower(n.String())] = true
	}
	seen := map[string]bool{}
	var changed []histTable
	for _, n := range info.tables {
		k := strings.ToLower(n.String())
		if seen[k] {
			continue
		}
		seen[k] = true
		old, selected := s.tables[k]
		if !selected && !s.joins(n, q, renamedTo[k]) {
			continue
		}
		s.log.Info("DDL seen", "table", n.String(), "statement", q, "position", at)
		if nm, ok := s.names[k]; ok {
			n = nm
		}
		if err := s.trackSchema(ctx, defaultDB, q, at, k, n, old, renamedTo[k]); err != nil {
			return err
		}
		nt := s.tables[k]
		if nt != old || !selected {
			changed = append(changed, histOf(k, n, nt, s.lastVersion[k]))
		}
		s.snapshotAfterDDL(old, nt)
		if s.cfg.EmitDDL {
			s.queueDDL(q, k, n, nt)
		}
	}
	return s.hist.record(ctx, "ddl", q, at, changed)
}

// trackSchema sets table n's schema (key k, schema old before it, nil if none) after DDL
// statement q at binlog position at: q replayed on old, or the catalog's for a table renamed
// to n or one that joins under this name; nil if the table is gone. An unchanged schema keeps
// old's *table.
func (s *Source) trackSchema(ctx context.Context, defaultDB, q, at, k string, n tableName, old *table, renamed bool) error {
	var version uint64 = 1
	if old != nil {
		version = old.t.Version + 1
	} else if v, ok := s.lastVersion[k]; ok {
		version = v + 1
	}
	var nt *table
	err := errNoReplay
	if !renamed { // a renamed table's schema is the catalog's
		nt, err = s.replay(defaultDB, q, n, old, version)
	}
	if errors.Is(err, errNoReplay) {
		if old != nil {
			return fmt.Errorf("%w: %q on %s at binlog %s cannot be replayed (%v): the schema after it is unknown and no row of %s after it is decoded with a guess; leave the table out of the selection, run ferry past the statement, then select it again: it joins with a new snapshot (docs/sources/oceanbase.md, DDL and the schema history)",
				ErrSchemaUnknown, q, n, at, err, n)
		}
		// A table that joins under this name (renamed to it, created LIKE a table whose
		// schema is not tracked): its first schema is the catalog's.
		nt, err = loadTable(ctx, s.db, s.cfg.tenant, n, version)
	}
	switch {
	case err == nil:
		if old != nil && sameSchema(old.t, nt.t) && slices.Equal(old.ukNames, nt.ukNames) {
			nt = old
		}
		s.tables[k], s.names[k] = nt, n
		s.lastVersion[k] = nt.t.Version
	case isNoTable(err):
		if old != nil {
			s.lastVersion[k] = old.t.Version
		}
		s.tables[k], s.names[k] = nil, n
	default:
		return fmt.Errorf("reload schema of %s after %q at binlog %s: %w", n, q, at, err)
	}
	return nil
}

// snapshotAfterDDL ends the snapshot of a table DDL dropped (old before it, nt after it), and
// starts one for a table that appeared under a selected name when the mode is ModeBoth.
func (s *Source) snapshotAfterDDL(old, nt *table) {
	switch {
	case old != nil && nt == nil:
		// dropped: its snapshot (if under way) ends; if it comes back it starts over
		s.cancelSnapshot(old.name())
	case old == nil && nt != nil && s.cfg.Mode == ModeBoth:
		// The table appeared under a selected name (created, re-created, renamed to
		// it): it joins from this statement on, and its snapshot delivers the rows it
		// holds from the start (CREATE TABLE ... SELECT, a renamed table's rows).
		s.cancelSnapshot(nt.name())
		s.snapshotTable(nt)
	}
}

// queueDDL adds DDL statement q on table n (key k, schema nt after it, nil if dropped) to the
// current transaction, as a change of its own (emit_ddl).
func (s *Source) queueDDL(q, k string, n tableName, nt *table) {
	d := &change.Change{Op: change.OpDDL, DDL: q, Database: n.DB, TableName: n.Name, TxID: s.txID()}
	if nt != nil {
		d.Table = nt.t
	}
	d.ID = d.TxID + "#ddl-" + k
	s.bl.tx.ddl = append(s.bl.tx.ddl, d)
}

// replay applies DDL statement q to the in-memory schema of table n, so that rows logged
// between several DDL statements decode with the schema of their time even when the stream
// lags. It returns ErrNoTable when the statement drops the table, errNoReplay when the
// statement cannot be replayed, and old itself when the statement does not change n.
func (s *Source) replay(defaultDB, q string, n tableName, old *table, version uint64) (*table, error) {
	if s.ddlParser == nil {
		s.ddlParser = parser.New()
	}
	var ot *change.Table
	var names []string
	var rows int64
	if old != nil {
		ot, names, rows = old.t, old.ukNames, old.rows
	}
	lookup := func(db, name string) (*change.Table, []string) {
		if tb := s.tables[strings.ToLower(db+"."+name)]; tb != nil {
			return tb.t, tb.ukNames
		}
		return nil, nil
	}
	eff, touched, err := replayDDL(s.ddlParser, defaultDB, q, n, ot, names, lookup)
	if err != nil {
		return nil, err
	}
	switch {
	case !touched:
		if old == nil {
			return nil, fmt.Errorf("%s: %w", n, ErrNoTable)
		}
		return old, nil
	case eff.dropped || eff.t == nil:
		return nil, fmt.Errorf("%s: %w", n, ErrNoTable)
	}
	t := eff.t
	t.Tenant, t.Version = s.cfg.tenant, version
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoReplay, err)
	}
	nt := newTable(t, rows)
	nt.ukNames = eff.ukNames
	return nt, nil
}
