package oceanbase

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gosql "github.com/go-sql-driver/mysql"
	"github.com/pingcap/tidb/pkg/parser"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Version is the plugin's version.
const Version = "0.1.0"

// Source is the "oceanbase" source.
type Source struct {
	sdk.UnimplementedSource
	log        *slog.Logger // the plugin's logger (sdk.Config.Logger)
	cfg        config
	raw        sdk.Config      // as configured, for Precheck
	initial    change.Position // a fresh start's position, returned as the first batch
	configured bool
	pipeline   string
	runID      string
	serverID   uint32

	opened bool // Open ran

	db        *sql.DB
	version   string // the SQL server's VERSION()
	oceanBase bool   // the SQL server is OceanBase (VERSION() says so)
	flavor    string
	gtidMode  bool

	// The selection and the schemas are the stream goroutine's: Read's, or SetTables' while it
	// holds readSem.
	sel         selection            // what is selected: exact names, patterns, excludes
	tables      map[string]*table    // lower "db.table" -> schema (nil: dropped) of each selected table
	names       map[string]tableName // lower "db.table" -> its name
	lastVersion map[string]uint64
	wm          *table
	wmKey       string
	checkedMaps map[tmKey]*table // TABLE_MAP contents checked against a schema (checkTableMap)
	mapChecks   int              // full TABLE_MAP checks done (tests)
	ddlParser   *parser.Parser   // replays DDL on the in-memory schemas (stream goroutine only)
	hist        *history         // the persisted schema history (history.go)

	bl            *binlog
	maxReconnects int
	// noChecksumVar: binlog_address has no binlog_checksum variable (an older Binlog Service
	// reached directly): replication connections rewrite go-mysql's question about it.
	noChecksumVar bool
	// errStreak counts stream errors since the last transaction event, fatalStreak the
	// 1236 refusals among them (Read's goroutine).
	errStreak, fatalStreak int
	reconnects             atomic.Int64

	snap *snapState
	// Snapshot marks (change.MetaSnapshot): whether this snapshot's first row was handed over,
	// and per table the snapshot epoch (+1) whose first row was.
	snapBegun   bool
	snapFirstOf map[string]uint64
	snapper     *snapshotter
	progressMu  sync.Mutex
	prog        map[string]*Progress // by "db.table"
	progOrder   []string
	wake        chan struct{}

	mem *memBudget // reader_memory

	// readSem is held by Read, and by SetTables when it applies a selection while no Read
	// runs: whoever holds it owns the stream state.
	readSem    chan struct{}
	selMu      sync.Mutex
	selPending []*selRequest
	selWanted  atomic.Bool

	out   []item
	hbSeq uint64
}

// selRequest is a SetTables call waiting to be applied at a transaction boundary.
type selRequest struct {
	// ctx is the caller's (SetTables, Resnapshot): the request is applied under it by
	// whichever goroutine holds the stream, and the caller waits for done, as a request
	// value carries its caller's context (net/http.Request does).
	ctx    context.Context
	sel    selection
	resnap []string // a Resnapshot request (resnapshot.go) instead of a selection
	done   chan error
}

// New returns an unconfigured source.
func New() *Source { return &Source{maxReconnects: 10, log: slog.New(slog.DiscardHandler)} }

// driverLogger carries go-sql-driver's own lines (a connection closed mid-packet, a bad
// packet) into the plugin's logger instead of the driver's default, plain text on stderr.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Print(v ...any) {
	d.l.Warn(strings.Join(strings.Fields(fmt.Sprint(v...)), " "), "component", "go-sql-driver")
}

// infoAsDebug logs a library's info lines at debug.
type infoAsDebug struct{ slog.Handler }

func (h infoAsDebug) Enabled(ctx context.Context, l slog.Level) bool {
	if l < slog.LevelWarn {
		l = slog.LevelDebug
	}
	return h.Handler.Enabled(ctx, l)
}

func (h infoAsDebug) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h infoAsDebug) WithAttrs(as []slog.Attr) slog.Handler {
	return infoAsDebug{h.Handler.WithAttrs(as)}
}

func (h infoAsDebug) WithGroup(name string) slog.Handler {
	return infoAsDebug{h.Handler.WithGroup(name)}
}

// Info identifies the plugin.
func (s *Source) Info() sdk.Info {
	return sdk.Info{Name: "oceanbase", Kind: sdk.KindSource, Version: Version,
		Summary: "Reads OceanBase MySQL-mode tenants, MySQL and MariaDB: parallel snapshot, binlog changes, watermark hand-over."}
}

// Spec declares the configuration.
func (s *Source) Spec() sdk.Spec { return spec() }

// Configure decodes and checks the configuration.
func (s *Source) Configure(_ context.Context, c sdk.Config) error {
	cfg := defaultConfig()
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	if err := cfg.check(); err != nil {
		return err
	}
	s.cfg = cfg
	s.raw = c
	s.log = c.Logger()
	s.configured = true
	return nil
}

// Open connects, reads the schemas and positions the stream after req.Position.
//
// A transient error on the way (an OceanBase leader switch, 4038 or 6002, a timeout, a
// dropped or refused connection: transient) abandons the attempt and starts over with the
// backoff of retry, about 11 s in all; permanent errors (configuration, history, schema)
// return at once.
func (s *Source) Open(ctx context.Context, req sdk.OpenRequest) error {
	if !s.configured {
		return errors.New("oceanbase: Open before Configure")
	}
	return retry(ctx, s.log, "open", func() error {
		err := s.open(ctx, req)
		if err != nil {
			s.abandonOpen()
		}
		return err
	})
}

// abandonOpen releases what a failed open attempt holds, so that the next attempt starts
// from nothing (it assigns every other field again).
func (s *Source) abandonOpen() {
	_ = s.Close(context.Background())
	s.snapper, s.bl, s.db = nil, nil, nil
}

func (s *Source) open(ctx context.Context, req sdk.OpenRequest) error {
	s.prepareRun(req.Pipeline)
	var pos *position
	if req.Position != nil {
		p, err := decodePosition(req.Position)
		if err != nil {
			return sdk.Permanent(err)
		}
		pos = p
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	if err := s.resolvePatterns(ctx); err != nil {
		return err
	}
	if len(s.cfg.tables) == 0 && s.cfg.Mode == ModeFull {
		return sdk.Permanent(fmt.Errorf("oceanbase: the patterns %s select no table", strings.Join(s.cfg.patterns, ", ")))
	}
	if s.cfg.WatermarkDatabase == "" && s.cfg.Mode == ModeBoth {
		return sdk.Permanent(errors.New("oceanbase: no table selected yet and the patterns name no database: set watermark_database"))
	}
	fresh := pos == nil && s.cfg.Mode != ModeFull && (s.cfg.Mode != ModeIncremental || s.cfg.startTime.IsZero())
	var freshStart position
	if fresh {
		p, err := s.schemasAtStart(ctx, req.State)
		if err != nil {
			return err
		}
		freshStart = p
	} else if err := s.loadSchemas(ctx, req.State, pos); err != nil {
		return err
	}
	if s.cfg.Mode == ModeFull {
		var st *snapState
		if pos != nil {
			st = pos.Snap.resumable()
		}
		s.snap = s.resumeSnapshot(st)
		return nil
	}
	return s.openStream(ctx, pos, freshStart)
}

// prepareRun sets what a run of the source starts with: its names and ids, the reader's memory
// budget and the configured selection.
func (s *Source) prepareRun(pipeline string) {
	s.pipeline = pipeline
	if s.pipeline == "" {
		s.pipeline = "ferry"
	}
	s.serverID = s.cfg.serverID(s.pipeline)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	s.runID = hex.EncodeToString(rnd[:])
	s.opened = true
	s.wake = make(chan struct{}, 1)
	s.readSem = make(chan struct{}, 1)
	s.mem = newMemBudget(int64(s.cfg.ReaderMemory))
	s.mem.onWait = s.wakeup
	s.sel = selection{exact: append([]tableName(nil), s.cfg.tables...), patterns: s.cfg.patterns, exclude: s.cfg.exclude}
}

// openStream starts the binlog stream (modes incremental and both): at the checkpointed
// position pos, at start_timestamp, or at freshStart (the end of the log when the schemas
// were read), and in mode both queues the snapshots still to read.
func (s *Source) openStream(ctx context.Context, pos *position, freshStart position) error {
	var start position
	switch {
	case pos != nil:
		start = *pos
		start.Snap = nil
	case s.cfg.Mode == ModeIncremental && !s.cfg.startTime.IsZero():
		p, err := s.ResolveTimestamp(ctx, s.cfg.startTime)
		if err != nil {
			return err
		}
		start = p
	default:
		start = freshStart
	}
	var todo []*table
	if s.cfg.Mode == ModeBoth {
		// The watermark table is needed whenever a table's snapshot may start: at Open, when
		// SetTables adds a table and when DDL makes a selected table appear.
		if err := s.prepareWatermark(ctx); err != nil {
			return err
		}
		var st *snapState
		if pos != nil {
			st = pos.Snap.resumable()
		}
		todo = s.planResume(st)
	}
	start.Epoch, start.HasEpoch = s.hist.current(), s.hist.enabled()
	if pos == nil {
		s.completeGTID(ctx, &start) // never a MySQL GTID set with a gap (gtidset.go)
		// A fresh start: hand the host the start position first (sdk.Source.Open), so a
		// crash before the first checkpoint resumes here and misses nothing.
		p := start
		p.Snap = s.snap
		s.initial = p.encode()
	}
	if err := s.startBinlog(ctx, start); err != nil {
		return err
	}
	for _, tb := range todo {
		s.snapshotTable(tb)
	}
	return nil
}

// schemasAtStart reads the selected tables' schemas for a fresh start at the binlog's end and
// returns a start position they are right for: the end before the read, when no DDL of a
// selected table was logged between it and the end after the read (else it tries again).
// Reading the schemas first and the position after would miss a DDL logged in between, and
// the rows after it would decode with the old schema.
func (s *Source) schemasAtStart(ctx context.Context, st sdk.StateStore) (position, error) {
	for attempt := 1; ; attempt++ {
		p0, err := s.currentPosition(ctx)
		if err != nil {
			return position{}, err
		}
		if err := s.loadSchemas(ctx, st, nil); err != nil {
			return position{}, err
		}
		p1, err := s.currentPosition(ctx)
		if err != nil {
			return position{}, err
		}
		if p0.File == p1.File && p0.Pos == p1.Pos {
			return p0, nil
		}
		ddl, err := s.ddlBetween(ctx, p0, p1)
		if err != nil {
			return position{}, err
		}
		if ddl == "" {
			return p0, nil
		}
		if attempt == 5 {
			return position{}, fmt.Errorf("oceanbase: DDL on selected tables kept coming while their schemas were read (last: %q); start again when it settles", ddl)
		}
	}
}

// ddlBetween returns a DDL statement on a selected table (or one joining the selection) that
// the binlog holds between p0 and p1, "" when there is none.
func (s *Source) ddlBetween(ctx context.Context, p0, p1 position) (string, error) {
	files := []string{p0.File}
	if p1.File != p0.File {
		files = append(files, p1.File)
	}
	for i, f := range files {
		q := "SHOW BINLOG EVENTS IN '" + strings.ReplaceAll(f, "'", "''") + "'"
		if i == 0 {
			q += " FROM " + strconv.FormatUint(uint64(p0.Pos), 10)
		}
		r, err := s.binlogQuery(ctx, q)
		if err != nil {
			return "", fmt.Errorf("oceanbase: %s on binlog_address: %w", q, err)
		}
		found := ""
		for k := range r.rows {
			typ, _ := r.col(k, "Event_type")
			if !strings.EqualFold(typ, "Query") {
				continue
			}
			if e, ok := r.col(k, "End_log_pos"); ok && f == p1.File {
				if n, err := strconv.ParseUint(e, 10, 32); err == nil && uint32(n) > p1.Pos {
					break
				}
			}
			stmt, _ := r.col(k, "Info")
			db := ""
			if strings.HasPrefix(stmt, "use `") {
				if x := strings.Index(stmt, "`; "); x > 0 {
					db, stmt = strings.ReplaceAll(stmt[5:x], "``", "`"), stmt[x+3:]
				}
			}
			ci := classifyQuery(db, stmt)
			if !ci.isDDL {
				continue
			}
			for _, n := range ci.tables {
				if _, ok := s.tables[strings.ToLower(n.String())]; ok || s.sel.wants(n) {
					found = stmt
					break
				}
			}
			if found != "" {
				break
			}
		}
		if found != "" {
			return found, nil
		}
	}
	return "", nil
}

// loadSchemas sets the schemas of the selected tables in force at the resume position pos
// (nil: a fresh start). With a schema history (mode incremental or both, a state store, a
// position of version 3) they are the history's at the position's epoch; a table the history
// does not know (new to the selection) gets its first schema from the catalog, recorded as a
// new entry. Otherwise the catalog gives every schema and a new history starts.
func (s *Source) loadSchemas(ctx context.Context, st sdk.StateStore, pos *position) error {
	s.tables = map[string]*table{}
	s.names = map[string]tableName{}
	s.lastVersion = map[string]uint64{}
	if s.cfg.Mode == ModeFull {
		st = nil // no log to decode
	}
	s.hist = newHistory(st)
	var state map[string]histTable
	if pos != nil && pos.HasEpoch {
		if !s.hist.enabled() {
			if pos.Epoch > 0 && s.cfg.Mode != ModeFull {
				return sdk.Permanent(fmt.Errorf("%w: the position needs the schemas of epoch %d and the host gave no state store", ErrHistory, pos.Epoch))
			}
		} else {
			var err error
			if state, err = s.hist.load(ctx, pos.Epoch); err != nil {
				return sdk.Permanent(err)
			}
		}
	}
	var changed []histTable
	for _, n := range s.cfg.tables {
		k := strings.ToLower(n.String())
		if h, ok := state[k]; ok {
			tb, err := tableOf(h)
			if err != nil {
				return sdk.Permanent(err)
			}
			s.tables[k], s.names[k], s.lastVersion[k] = tb, tableName{DB: h.DB, Name: h.Name}, h.Version
			continue
		}
		tb, err := loadTable(ctx, s.db, s.cfg.tenant, n, 1)
		if err != nil {
			if transient(err) {
				return err // a leader switch or lost connection while reading the catalog
			}
			return sdk.Permanent(err)
		}
		s.tables[k], s.names[k], s.lastVersion[k] = tb, n, 1
		changed = append(changed, histOf(k, n, tb, 1))
	}
	if state == nil {
		return s.hist.start(ctx, changed)
	}
	// Tables of the history that the catalog no longer has (dropped after the position) but
	// the selection still selects stay: the log holds their changes up to the drop. The others
	// left the selection while ferry was stopped.
	keys := make([]string, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h := state[k]
		if _, ok := s.tables[k]; ok {
			continue
		}
		n := tableName{DB: h.DB, Name: h.Name}
		if s.sel.wants(n) {
			tb, err := tableOf(h)
			if err != nil {
				return sdk.Permanent(err)
			}
			s.tables[k], s.names[k], s.lastVersion[k] = tb, n, h.Version
			continue
		}
		changed = append(changed, histTable{Key: k, DB: h.DB, Name: h.Name, Leave: true})
	}
	if err := s.hist.record(ctx, "resume", "", "", changed); err != nil {
		return sdk.Permanent(err)
	}
	return nil
}

// resumeSnapshot sets the snapshot state of mode full and queues the tables it needs.
func (s *Source) resumeSnapshot(st *snapState) *snapState {
	todo := s.planResume(st)
	for _, tb := range todo {
		s.snapshotTable(tb)
	}
	return s.snap
}

// planResume makes s.snap from a saved state (nil: none): entries of tables no longer
// selected are dropped, and every selected table that is not done is returned to be
// snapshotted — in progress (it continues after its completed prefix) or unknown to the
// state (new, or added to the configuration while ferry was stopped). Tables done before are
// not read again.
func (s *Source) planResume(st *snapState) []*table {
	if st == nil {
		st = &snapState{Tables: map[string]*tableProgress{}}
	}
	selected := map[string]*table{}
	for _, tb := range s.tables {
		if tb != nil {
			selected[tb.name()] = tb
		}
	}
	for name := range st.Tables {
		if selected[name] == nil {
			st = st.without(name)
		}
	}
	for name := range st.Done {
		if selected[name] == nil {
			st = st.without(name)
		}
	}
	var todo []*table
	for _, n := range s.cfg.tables {
		tb := s.tables[strings.ToLower(n.String())]
		if tb == nil {
			continue
		}
		if st.isDone(tb.name()) {
			s.setProgress(Progress{Table: tb.name(), RowsDone: st.rows(tb.name()), Estimated: tb.rows, Done: true})
			continue
		}
		todo = append(todo, tb)
	}
	if len(todo) > 0 {
		st = st.reopened()
	} else if !st.Finished {
		st = st.finished()
	}
	s.snap = st
	return todo
}

// connect opens the SQL connection pool, detects the server's flavor and sets the session
// variables every SQL session needs (sessionParams), then asks binlog_address about GTIDs.
func (s *Source) connect(ctx context.Context) error {
	mc, err := s.cfg.dsn()
	if err != nil {
		return err
	}
	probe, err := s.openPool(ctx, mc, 1)
	if err != nil {
		return err
	}
	var version string
	if err := probe.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		probe.Close()
		return fmt.Errorf("read server version: %w", err)
	}
	s.version = version
	params, err := sessionParams(ctx, probe, version, s.cfg.QueryTimeout.D())
	probe.Close()
	if err != nil {
		return err
	}
	for k, v := range params {
		mc.Params[k] = v
	}
	if s.db, err = s.openPool(ctx, mc, int(s.cfg.SnapshotConcurrency)+4); err != nil {
		return err
	}
	return s.detectServer(ctx)
}

func (s *Source) openPool(ctx context.Context, mc *gosql.Config, n int) (*sql.DB, error) {
	mc.Logger = driverLogger{s.log}
	conn, err := gosql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("sql connection to %s: %w", s.cfg.Address, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s as %s: %w", s.cfg.Address, s.cfg.User, err)
	}
	return db, nil
}

// isOceanBase reports an OceanBase server by its VERSION() ("5.7.25-OceanBase_CE-v4.2.1.2").
func isOceanBase(version string) bool { return strings.Contains(strings.ToLower(version), "oceanbase") }

// sessionParamsFor lists the session variables ferry's SQL sessions set on a server of this
// version: the statement time limit (the snapshot reads a table without a usable key in one
// statement; OceanBase cancels statements after ob_query_timeout, 10 s by default, with error
// 4012) and, on OceanBase, strong reads (a weak read may return a follower's stale row, older
// than a chunk's low watermark). required marks the ones whose failure is an error.
func sessionParamsFor(version string, timeout time.Duration) (params map[string]string, required map[string]bool) {
	us := strconv.FormatInt(timeout.Microseconds(), 10)
	switch {
	case isOceanBase(version):
		return map[string]string{"ob_query_timeout": us, "ob_trx_timeout": us, "ob_read_consistency": "'STRONG'"},
			map[string]bool{"ob_read_consistency": true}
	case strings.Contains(strings.ToLower(version), "mariadb"):
		return map[string]string{"max_statement_time": strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)}, nil
	default:
		return map[string]string{"max_execution_time": strconv.FormatInt(timeout.Milliseconds(), 10)}, nil
	}
}

// sessionParams returns the session variables of sessionParamsFor that the server accepts
// (tried on db): an optional one it refuses (an old MySQL without max_execution_time) is left
// out, a required one it refuses is an error.
func sessionParams(ctx context.Context, db *sql.DB, version string, timeout time.Duration) (map[string]string, error) {
	want, required := sessionParamsFor(version, timeout)
	out := map[string]string{}
	for k, v := range want {
		if _, err := db.ExecContext(ctx, "SET SESSION "+k+" = "+v); err != nil {
			if required[k] {
				return nil, fmt.Errorf("set %s = %s: %w", k, v, err)
			}
			continue
		}
		out[k] = v
	}
	return out, nil
}

// detectServer sets the flavor (from the SQL server's VERSION()) and, for the binlog modes,
// whether the binlog server uses GTIDs: @@GLOBAL.gtid_mode asked on binlog_address (an
// OBServer has no such variable; the Binlog Service, directly or through ODP, answers ON).
func (s *Source) detectServer(ctx context.Context) error {
	version := s.version
	s.oceanBase = isOceanBase(version)
	if strings.Contains(strings.ToLower(version), "mariadb") {
		s.flavor, s.gtidMode = mysql.MariaDBFlavor, true
		return nil
	}
	s.flavor = mysql.MySQLFlavor
	if s.cfg.Mode == ModeFull {
		return nil
	}
	mode, err := s.binlogVariable(ctx, "gtid_mode")
	var me *mysql.MyError
	switch {
	case err == nil:
		s.gtidMode = strings.EqualFold(mode, "ON")
	case errors.As(err, &me): // no gtid_mode (MySQL 5.5): file and offset
	default:
		return err
	}
	// The replication client asks binlog_address for binlog_checksum when it registers.
	// Binlog Service versions whose variable table lacks it (oblogproxy of 2024) refuse the
	// question, and the client gives up: then the question is rewritten (checksumConn).
	if _, err := s.binlogQuery(ctx, checksumQuery); err != nil && errors.As(err, &me) &&
		strings.Contains(strings.ToLower(me.Message), "unknown system variable") {
		s.noChecksumVar = true
	}
	return nil
}

// currentPosition is the binlog server's current binlog end (file, offset and GTID set), from
// SHOW MASTER STATUS on binlog_address. A MySQL-flavor GTID set is taken only when the
// server shows one (Executed_Gtid_Set; the Binlog Service's binlog_gtid_display may hide it):
// else startBinlog resolves the full set from the file's PREVIOUS_GTIDS (gtidset.go).
func (s *Source) currentPosition(ctx context.Context) (position, error) {
	r, err := s.binlogQuery(ctx, "SHOW MASTER STATUS")
	if err != nil {
		return position{}, err
	}
	if len(r.rows) == 0 || len(r.cols) < 2 {
		return position{}, fmt.Errorf("SHOW MASTER STATUS on binlog_address %s returned nothing: is the binlog enabled?", s.cfg.BinlogAddress)
	}
	p := position{File: r.rows[0][0]}
	n, err := strconv.ParseUint(r.rows[0][1], 10, 32)
	if err != nil {
		return position{}, fmt.Errorf("SHOW MASTER STATUS position %q: %w", r.rows[0][1], err)
	}
	p.Pos = uint32(n)
	if g, ok := r.col(0, "Executed_Gtid_Set"); ok && s.gtidMode && s.flavor != mysql.MariaDBFlavor {
		p.GTID = strings.ReplaceAll(g, "\n", "")
	}
	if s.flavor == mysql.MariaDBFlavor {
		g, err := s.binlogGTIDPos(ctx, p.File, p.Pos)
		if err != nil {
			return position{}, fmt.Errorf("BINLOG_GTID_POS: %w", err)
		}
		p.GTID = g
	}
	return p, nil
}

func (s *Source) prepareWatermark(ctx context.Context) error {
	q := "CREATE TABLE IF NOT EXISTS " + qualified(s.cfg.WatermarkDatabase, WatermarkTable) +
		" (slot VARCHAR(191) NOT NULL PRIMARY KEY, mark VARCHAR(191) NOT NULL," +
		" updated TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))"
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create watermark table %s.%s (set watermark_database to a database where the user may create it): %w",
			s.cfg.WatermarkDatabase, WatermarkTable, err)
	}
	wm, err := loadTable(ctx, s.db, s.cfg.tenant, tableName{DB: s.cfg.WatermarkDatabase, Name: WatermarkTable}, 1)
	if err != nil {
		return err
	}
	s.wm = wm
	s.wmKey = strings.ToLower(wm.name())
	return nil
}

func (s *Source) wakeup() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Read returns the next batch.
func (s *Source) Read(ctx context.Context) (*change.Batch, error) {
	if !s.opened {
		return nil, errors.New("oceanbase: Read before Open")
	}
	select {
	case s.readSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.readSem }()
	if s.cfg.Mode == ModeFull {
		return s.readFull(ctx)
	}
	if p := s.initial; p != nil {
		s.initial = nil
		return &change.Batch{Position: p}, nil
	}
	var hb *time.Timer
	defer func() {
		if hb != nil {
			hb.Stop()
		}
	}()
	for {
		if s.selWanted.Load() && !s.bl.tx.active {
			s.applySelections()
			if s.finishSnapshotIfDone() && len(s.out) == 0 {
				return s.heartbeat(), nil
			}
		}
		if len(s.out) >= int(s.cfg.BatchSize) || s.makeRoom() {
			return s.takeBatch(), nil
		}
		ev, got, batch, err := s.nextEvent(ctx, &hb)
		if batch != nil || err != nil {
			return batch, err
		}
		if !got {
			continue
		}
		if ev.err != nil {
			if err := s.recoverStream(ctx, ev.err); err != nil {
				return nil, err
			}
			continue
		}
		if err := s.decode(ctx, ev); err != nil {
			return nil, err
		}
	}
}

// makeRoom keeps the log reader within reader_memory: over it, or when the next event does
// not fit while the open transaction's rows hold the room and nothing else is left to
// decode, the queue goes to the host before more is decoded (the transaction's rows so far
// ahead of its commit if need be). True: s.out holds a batch to hand over now.
func (s *Source) makeRoom() bool {
	stuck := len(s.out) == 0 && len(s.bl.tx.rows) > 0 && len(s.bl.evCh) == 0 && s.mem.receiverWaiting()
	if s.mem.mayDecode() && !stuck {
		return false
	}
	if len(s.out) == 0 {
		before := s.mem.queuedBytes()
		s.spill()
		s.mem.stepDone(before)
	}
	return len(s.out) > 0
}

// nextEvent waits for the next binlog event (got). With changes queued it does not wait: no
// event at hand hands them over (batch). With none it waits for an event, a snapshot error, a
// wake-up (the snapshot may be finished: a heartbeat batch, else neither) or the heartbeat
// interval (a heartbeat batch), until ctx ends. *hb is the heartbeat timer, made once per Read.
func (s *Source) nextEvent(ctx context.Context, hb **time.Timer) (ev evOrErr, got bool, batch *change.Batch, err error) {
	if len(s.out) > 0 {
		select {
		case ev = <-s.bl.evCh:
			return ev, true, nil, nil
		default:
			return ev, false, s.takeBatch(), nil
		}
	}
	if *hb == nil {
		*hb = time.NewTimer(s.cfg.HeartbeatInterval.D())
	}
	var snapErr chan error
	if s.snapper != nil {
		snapErr = s.snapper.errCh
	}
	select {
	case ev = <-s.bl.evCh:
		return ev, true, nil, nil
	case err := <-snapErr:
		return ev, false, nil, err
	case <-s.wake:
		if s.finishSnapshotIfDone() {
			return ev, false, s.heartbeat(), nil
		}
		return ev, false, nil, nil
	case <-(*hb).C:
		return ev, false, s.heartbeat(), nil
	case <-ctx.Done():
		return ev, false, nil, ctx.Err()
	}
}

// recoverStream handles an error of the binlog stream: it reconnects, unless ctx ended or
// the errors say the stream cannot go on. A reconnect succeeds when the dump request is sent;
// a server that refuses the position answers only afterwards. Errors with no transaction in
// between count against the reconnect limit, and a refusal of the position itself (1236)
// stops after a second try.
func (s *Source) recoverStream(ctx context.Context, cause error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.errStreak++
	if err := s.streamFatal(cause); err != nil {
		return err
	}
	return s.reconnect(ctx, cause)
}

// decode turns one binlog event into queued changes, within reader_memory's accounting.
func (s *Source) decode(ctx context.Context, ev evOrErr) error {
	before := s.mem.queuedBytes()
	err := s.handle(ctx, ev.ev)
	s.mem.stepDone(before)
	s.mem.eventDone(ev.size)
	if err != nil {
		return err
	}
	if progress(ev.ev) {
		s.errStreak, s.fatalStreak = 0, 0
	}
	return nil
}

// finishSnapshotIfDone marks the snapshot finished when every chunk was delivered (also
// when the last chunks completed before the planner knew it was the last).
func (s *Source) finishSnapshotIfDone() bool {
	if s.snap == nil || s.snap.Finished {
		return false
	}
	if sn := s.snapper; sn != nil && !sn.drained() {
		return false
	}
	s.snap = s.snap.finished()
	return true
}

func (s *Source) takeBatch() *change.Batch {
	n := min(len(s.out), int(s.cfg.BatchSize))
	for n < len(s.out) && s.out[n-1].noCut {
		n++
	}
	b := &change.Batch{Changes: make([]*change.Change, n)}
	var bytes int64
	for i := 0; i < n; i++ {
		b.Changes[i] = s.out[i].c
		bytes += s.out[i].size
	}
	b.Position = s.out[n-1].pos.encode()
	copy(s.out, s.out[n:])
	for i := len(s.out) - n; i < len(s.out); i++ {
		s.out[i] = item{}
	}
	s.out = s.out[:len(s.out)-n]
	if s.mem != nil {
		s.mem.addQueued(-bytes)
	}
	return b
}

// heartbeat is a batch of one heartbeat at the current position.
func (s *Source) heartbeat() *change.Batch {
	var p position
	if s.bl.tx.active {
		p = s.bl.restartPoint()
		p.Snap = s.snap
	} else {
		p = s.resumePos()
	}
	s.hbSeq++
	enc := p.encode()
	c := &change.Change{Op: change.OpHeartbeat, CommitTime: time.Now().UTC(), Position: enc,
		ID: "heartbeat:" + s.runID + ":" + strconv.FormatUint(s.hbSeq, 10)}
	return &change.Batch{Changes: []*change.Change{c}, Position: enc}
}

// readFull delivers snapshot chunks as they complete, then io.EOF.
func (s *Source) readFull(ctx context.Context) (*change.Batch, error) {
	for {
		if s.selWanted.Load() {
			s.applySelections()
		}
		sn := s.snapper
		if sn == nil || sn.drained() {
			return nil, io.EOF
		}
		select {
		case w := <-sn.ready:
			sn.mu.Lock()
			sn.pending--
			current := sn.epoch[w.t.name()] == w.epoch
			finished := len(sn.queue) == 0 && !sn.planning && sn.pending == 0
			sn.mu.Unlock()
			if current {
				s.snap = s.snap.withChunk(w.t.name(), w.r, int64(len(w.rows)))
			}
			if finished {
				s.snap = s.snap.finished()
			}
			if !current {
				continue
			}
			p := position{Snap: s.snap}
			enc := p.encode()
			s.queueSnapshotRows(w, w.rows, p, enc, finished)
			s.noteProgress(w.t.name())
			if len(s.out) == 0 {
				continue
			}
			b := &change.Batch{Changes: make([]*change.Change, len(s.out)), Position: enc}
			for i := range s.out {
				b.Changes[i] = s.out[i].c
			}
			s.releaseItems(s.out)
			clear(s.out)
			s.out = s.out[:0]
			return b, nil
		case err := <-sn.errCh:
			return nil, err
		case <-s.wake:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Ack implements sdk.SourceAcker: everything up to pos is checkpointed, so no restart can
// resume before pos and the schema history up to its epoch folds into the history's base.
func (s *Source) Ack(ctx context.Context, pos change.Position) error {
	p, err := decodePosition(pos)
	if err != nil || !p.HasEpoch {
		return nil
	}
	return s.hist.compact(ctx, p.Epoch)
}

// HistorySize reports the schema history's stored bytes and its entries after the base.
func (s *Source) HistorySize() (bytes int64, entries int) { return s.hist.size() }

// Reconnects reports how many times the binlog stream was re-established.
func (s *Source) Reconnects() int64 { return s.reconnects.Load() }

// Close stops the readers and the stream.
func (s *Source) Close(context.Context) error {
	if s.snapper != nil {
		s.snapper.stop()
	}
	s.stopBinlog()
	if s.db != nil {
		return s.db.Close()
	}
	return nil
}

var _ sdk.Source = (*Source)(nil)
