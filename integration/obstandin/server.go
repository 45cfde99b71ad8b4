// Package obstandin is a stand-in for OceanBase's ODP (OBProxy) and Binlog Service as a
// client sees them, backed by the test bed's MariaDB: see README.md for each behaviour and
// the source it follows.
package obstandin

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// Versions the two roles announce.
const (
	ODPVersion    = "5.7.25-OceanBase_CE-v4.2.1.2" // SELECT VERSION() through ODP (obproxy#53)
	BinlogVersion = "5.7.35-obs"                   // handshake of the Binlog Service (handshake_packet.h)
)

// Config configures a stand-in.
type Config struct {
	MariaDBAddr     string // backend, host:port
	MariaDBUser     string // replication client of the feeder
	MariaDBPassword string
	// Users maps plain user names to passwords for the ODP role: the client's scramble is
	// checked against it and the session then logs in to MariaDB as that user.
	Users map[string]string

	ODPAddr     string // listen address of the ODP role ("" = off)
	BinlogAddr  string // listen address of the Binlog Service role ("" = off)
	ControlAddr string // HTTP fault knobs ("" = off)

	StoreDir        string        // converted binlog files
	ServerID        uint32        // @@server_id of the binlog instance
	FeederServerID  uint32        // server id towards MariaDB (0 = random)
	QueryTimeout    time.Duration // default ob_query_timeout (10 s)
	MasterStatusLag time.Duration // SHOW MASTER STATUS shows the state of this long ago
	OldVariables    bool          // binlog variable table without binlog_checksum/format/row_image
	RotateSize      int64         // rotate binlog files at this size
	PurgeAge        time.Duration // purge files older than this (0 = never)
	PurgeSize       int64         // purge oldest files while the total exceeds this (0 = never)
	HeartbeatInTx   bool          // send a heartbeat right after each transaction's BEGIN
	DBPrefixes      []string      // convert only databases with these prefixes (nil = all)
	// TenantRole is what oceanbase.DBA_OB_TENANTS shows as TENANT_ROLE ("" = PRIMARY), or
	// RoleDenied to refuse the view as OceanBase refuses a user without SELECT on it.
	TenantRole string
	Logger     *log.Logger
}

// Server is a running stand-in.
type Server struct {
	cfg   Config
	store *store
	db    *sql.DB
	logf  func(string, ...any)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lns    []net.Listener
	http   *http.Server

	mu    sync.Mutex
	conns map[*server.Conn]net.Conn // closed through the net.Conn: server.Conn is not safe across goroutines
	odps  map[*server.Conn]*odpConn
	obDef map[string]string // GLOBAL ob_* values for new sessions

	role atomic.Value // string: DBA_OB_TENANTS.TENANT_ROLE, or RoleDenied

	delayMS  atomic.Int64
	failN    atomic.Int64
	failCode atomic.Int64
	dropsN   atomic.Int64

	odpAddr, binlogAddr, controlAddr string
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Start opens the store, starts the feeder and the listeners.
func Start(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	st, err := openStore(cfg.StoreDir, cfg.ServerID, cfg.RotateSize)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := openMariaDB(cfg, st)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, store: st, db: db, logf: cfg.Logger.Printf, ctx: ctx, cancel: cancel,
		conns: map[*server.Conn]net.Conn{}, odps: map[*server.Conn]*odpConn{}, obDef: map[string]string{
			"ob_query_timeout":    strconv.FormatInt(cfg.QueryTimeout.Microseconds(), 10),
			"ob_trx_timeout":      "100000000",
			"ob_trx_idle_timeout": "120000000",
			"ob_read_consistency": "STRONG",
		}}
	s.SetTenantRole(cfg.TenantRole)
	if err := s.listenAll(); err != nil {
		s.Close()
		return nil, err
	}
	f := &feeder{cfg: &s.cfg, st: st, db: db, tables: map[string]map[int]colInfo{}, logf: s.logf}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); f.run(ctx) }()
	go func() { defer s.wg.Done(); s.purgeLoop(ctx) }()
	return s, nil
}

// withDefaults fills in the settings left zero.
func (cfg Config) withDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr, "obstandin ", log.LstdFlags|log.Lmicroseconds)
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = 10 * time.Second
	}
	if cfg.ServerID == 0 {
		cfg.ServerID = 2
	}
	if cfg.TenantRole == "" {
		cfg.TenantRole = "PRIMARY"
	}
	if cfg.FeederServerID == 0 {
		cfg.FeederServerID = uint32(1<<28 + rand.Intn(1<<27))
	}
	if cfg.RotateSize <= 0 {
		cfg.RotateSize = 64 << 20
	}
	return cfg
}

// openMariaDB connects to MariaDB and, at the first start, records in the store where its
// binlog is now.
func openMariaDB(cfg Config, st *store) (*sql.DB, error) {
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/", cfg.MariaDBUser, cfg.MariaDBPassword, cfg.MariaDBAddr))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	if st.mariaDBPos() == "" {
		// First start: convert from where MariaDB is now (read before Start returns, so
		// that everything written after Start is converted).
		var pos string
		if err := db.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
			db.Close()
			st.close()
			return nil, fmt.Errorf("read MariaDB gtid_binlog_pos: %w", err)
		}
		st.mu.Lock()
		st.st.MariaDBGTID = pos
		err := st.saveLocked()
		st.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return db, nil
}

// listenAll listens on the ODP, Binlog Service and control addresses that are set.
func (s *Server) listenAll() error {
	var err error
	if s.odpAddr, err = s.listen(s.cfg.ODPAddr, s.serveODP); err != nil {
		return err
	}
	if s.binlogAddr, err = s.listen(s.cfg.BinlogAddr, s.serveBinlog); err != nil {
		return err
	}
	if s.cfg.ControlAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.ControlAddr)
		if err != nil {
			return err
		}
		s.controlAddr = ln.Addr().String()
		s.http = &http.Server{Handler: s.controlHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = s.http.Serve(ln) }()
	}
	return nil
}

// listen serves each connection to addr with serve ("" listens on nothing) and returns the
// address listened on.
func (s *Server) listen(addr string, serve func(net.Conn)) (string, error) {
	if addr == "" {
		return "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.lns = append(s.lns, ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String(), nil
}

// purgeLoop purges old binlog files every 5 s (by age and size) until ctx ends.
func (s *Server) purgeLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if gone := s.store.purge(s.cfg.PurgeAge, s.cfg.PurgeSize, ""); len(gone) > 0 {
				s.logf("purged %v", gone)
			}
		}
	}
}

// ODPAddr, BinlogAddr and ControlAddr are the addresses listened on.
func (s *Server) ODPAddr() string     { return s.odpAddr }
func (s *Server) BinlogAddr() string  { return s.binlogAddr }
func (s *Server) ControlAddr() string { return s.controlAddr }

// Executed is the binlog instance's gtid_executed.
func (s *Server) Executed() *mysql.MysqlGTIDSet { return s.store.executed() }

// Rotate is FLUSH BINARY LOGS.
func (s *Server) Rotate() error { return s.store.flush() }

// Purge removes files as the purge loop does, or every file before to.
func (s *Server) Purge(maxAge time.Duration, maxSize int64, to string) []string {
	return s.store.purge(maxAge, maxSize, to)
}

// Close stops everything.
func (s *Server) Close() {
	s.cancel()
	for _, ln := range s.lns {
		ln.Close()
	}
	if s.http != nil {
		s.http.Close()
	}
	s.DropAll()
	s.wg.Wait()
	s.store.close()
	s.db.Close()
}

// DropAll closes every client connection (fault knob).
func (s *Server) DropAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, nc := range s.conns {
		nc.Close()
		n++
	}
	s.dropsN.Add(int64(n))
	return n
}

// kill closes the connection with that id (KILL on the binlog role, as go-mysql's
// BinlogSyncer sends when it closes).
func (s *Server) kill(id uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, nc := range s.conns {
		if c.ConnectionID() == id {
			nc.Close()
		}
	}
}

// killODP is KILL [QUERY] id on the ODP role: the query of that session is killed on
// MariaDB, or the session closed. False when the id is not one of ours.
func (s *Server) killODP(id uint32, query bool) bool {
	s.mu.Lock()
	var target *server.Conn
	for c := range s.conns {
		if c.ConnectionID() == id {
			target = c
		}
	}
	o, nc := s.odps[target], s.conns[target]
	s.mu.Unlock()
	if target == nil {
		return false
	}
	if query && o != nil {
		o.kill()
	} else {
		nc.Close()
	}
	return true
}

func (s *Server) track(c *server.Conn, nc net.Conn, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.conns[c] = nc
	} else {
		delete(s.conns, c)
		delete(s.odps, c)
	}
}

func (s *Server) dropped(b *binlogSession) bool { return b.conn == nil || b.conn.Closed() }

func (s *Server) delay() time.Duration { return time.Duration(s.delayMS.Load()) * time.Millisecond }

// SetDelay delays every response by d (fault knob).
func (s *Server) SetDelay(d time.Duration) { s.delayMS.Store(d.Milliseconds()) }

// FailNext makes the next n statements fail with an OceanBase leader-switch error (4038
// "not master" or 6002 "transaction rollbacked"; fault knob).
func (s *Server) FailNext(n int, code int) {
	s.failCode.Store(int64(code))
	s.failN.Store(int64(n))
}

// AddUser lets the ODP role accept user (as user@tenant#cluster) with password; the session
// then logs in to MariaDB as user, which must exist there.
func (s *Server) AddUser(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Users == nil {
		s.cfg.Users = map[string]string{}
	}
	s.cfg.Users[user] = password
}

func (s *Server) userPassword(user string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pw, ok := s.cfg.Users[user]
	return pw, ok
}

// RoleDenied as a tenant role makes oceanbase.DBA_OB_TENANTS refuse the session, as
// OceanBase does for a user without SELECT on the oceanbase database.
const RoleDenied = "denied"

// SetTenantRole sets what DBA_OB_TENANTS shows as TENANT_ROLE (PRIMARY, STANDBY, ...) or
// RoleDenied (fault knob /role?v=...).
func (s *Server) SetTenantRole(role string) { s.role.Store(strings.ToUpper(role)) }

// TenantRole is the role DBA_OB_TENANTS shows now.
func (s *Server) TenantRole() string {
	r, _ := s.role.Load().(string)
	if strings.EqualFold(r, RoleDenied) {
		return RoleDenied
	}
	return r
}

func (s *Server) injected() error {
	if d := s.delay(); d > 0 {
		time.Sleep(d)
	}
	for {
		n := s.failN.Load()
		if n <= 0 {
			return nil
		}
		if s.failN.CompareAndSwap(n, n-1) {
			break
		}
	}
	switch code := uint16(s.failCode.Load()); code {
	case 6002:
		return mysql.NewError(6002, "Transaction rollbacked")
	case 4038, 0:
		return mysql.NewError(4038, "The observer or zone is not the master")
	default:
		return mysql.NewError(code, fmt.Sprintf("OceanBase error %d (injected)", code))
	}
}

func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/drop", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "dropped %d\n", s.DropAll())
	})
	mux.HandleFunc("/delay", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		s.SetDelay(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "delay %dms\n", ms)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		if code == 0 {
			code = 4038
		}
		s.FailNext(n, code)
		fmt.Fprintf(w, "next %d statements fail with %d\n", n, code)
	})
	mux.HandleFunc("/role", func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("v")
		if v == "" {
			v = s.cfg.TenantRole
		}
		s.SetTenantRole(v)
		fmt.Fprintf(w, "tenant role %s\n", s.TenantRole())
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		s.SetDelay(0)
		s.FailNext(0, 0)
		s.SetTenantRole(s.cfg.TenantRole)
		fmt.Fprintln(w, "reset")
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		m := s.store.master(0)
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{
			"file": m.file, "pos": m.pos, "executed": m.exec, "connections": n,
			"delay_ms": s.delayMS.Load(), "fail_next": s.failN.Load(), "fail_code": s.failCode.Load(),
			"drops": s.dropsN.Load(), "mariadb_gtid": s.store.mariaDBPos(), "tenant_role": s.TenantRole(),
		})
	})
	return mux
}

// ---- Binlog Service role ----

var tenantUser = regexp.MustCompile(`^(.*)@(.*)#(.*)$`) // connection.cpp

// anyPassword accepts every password: the Binlog Service checks none itself.
type anyPassword struct{}

func (anyPassword) Authenticate(*server.Conn, string, []byte) error { return nil }
func (anyPassword) Validate(string) bool                            { return true }

type binlogConn struct {
	*binlogSession
}

func (b *binlogConn) GetCredential(string) (server.Credential, bool, error) {
	return server.Credential{Passwords: []string{"*"}, AuthPluginName: mysql.AUTH_NATIVE_PASSWORD}, true, nil
}

func (b *binlogConn) OnAuthSuccess(c *server.Conn) error {
	m := tenantUser.FindStringSubmatch(c.GetUser())
	if m == nil {
		return mysql.NewError(mysql.ER_ACCESS_DENIED_ERROR,
			fmt.Sprintf("Access denied for user '%s': no tenant in the user name (want user@tenant#cluster)", c.GetUser()))
	}
	b.tenant = m[2]
	return nil
}
func (b *binlogConn) OnAuthFailure(*server.Conn, error) {}

func (b *binlogConn) UseDB(string) error { return nil }
func (b *binlogConn) HandleQuery(q string) (*mysql.Result, error) {
	if d := b.srv.delay(); d > 0 {
		time.Sleep(d)
	}
	return b.query(q)
}
func (b *binlogConn) HandleFieldList(string, string) ([]*mysql.Field, error) {
	return nil, mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, "not supported")
}
func (b *binlogConn) HandleStmtPrepare(string) (int, int, any, error) {
	return 0, 0, nil, mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, "prepared statements are not supported by the binlog service")
}
func (b *binlogConn) HandleStmtExecute(any, string, []any) (*mysql.Result, error) {
	return nil, mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, "not supported")
}
func (b *binlogConn) HandleStmtClose(any) error { return nil }
func (b *binlogConn) HandleOtherCommand(cmd byte, data []byte) error {
	return b.command(cmd, data)
}

func (s *Server) serveBinlog(nc net.Conn) {
	srv := server.NewServerWithAuth(BinlogVersion, mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil, anyPassword{})
	h := &binlogConn{binlogSession: newBinlogSession(s)}
	c, err := srv.NewCustomizedConn(nc, h, h)
	if err != nil {
		nc.Close()
		return
	}
	h.conn = c
	s.serveConn(c, nc)
}

func (s *Server) serveConn(c *server.Conn, nc net.Conn) {
	s.track(c, nc, true)
	defer s.track(c, nc, false)
	for !c.Closed() {
		if err := c.HandleCommand(); err != nil {
			if !errors.Is(err, io.EOF) && !c.Closed() {
				s.logf("connection %d: %v", c.ConnectionID(), err)
			}
			return
		}
	}
}
