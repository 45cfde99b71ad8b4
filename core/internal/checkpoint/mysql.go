package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/sdk"
)

// MySQLStore is the `mysql` shared store: a table in any MySQL-protocol database (the
// OceanBase tenant itself, MySQL, MariaDB) with a row per pipeline:
//
//	pipeline    the pipeline's name (primary key)
//	owner       the holder (Owner as JSON)
//	epoch       raised by every acquisition
//	expires_at  the end of the holder's lease, in the database's clock (NOW(6)), so the
//	            machines' clocks do not matter
//	checkpoint  the checkpoint, in the checkpoint file's format (checksummed JSON)
//
// and a table <table>_state with the source's durable state (pipeline, k, v). A save is an
// UPDATE guarded by the epoch and the expiry (WHERE epoch = ? AND expires_at > NOW(6)); a
// state write runs in a transaction that first locks the pipeline's row in share mode under
// the same condition, so it cannot land after another process acquired the lease (that
// acquisition updates the row and waits for the share lock).
type MySQLStore struct {
	db    *sql.DB
	cfg   SharedConfig
	table string // quoted `db`.`table`
	state string // quoted `db`.`table_state`

	mu    sync.Mutex
	epoch int64 // 0: not held
}

var identRE = regexp.MustCompile(`^[A-Za-z0-9_$]{1,64}$`)

func quoteIdent(s string) string { return "`" + s + "`" }

func openMySQL(ctx context.Context, cfg SharedConfig) (*MySQLStore, error) {
	if cfg.Address == "" {
		return nil, errors.New("mysql checkpoint store: no address")
	}
	if cfg.Database == "" {
		return nil, errors.New("mysql checkpoint store: no database")
	}
	cfg.Table = cfg.mysqlTable()
	for _, id := range []string{cfg.Database, cfg.Table} {
		if !identRE.MatchString(id) || len(cfg.Table) > 58 {
			return nil, fmt.Errorf("mysql checkpoint store: %q is not a plain identifier (letters, digits, '_', '$'; the table at most 58)", id)
		}
	}
	mc := mysql.NewConfig()
	mc.Net, mc.Addr, mc.User, mc.Passwd, mc.DBName = "tcp", cfg.Address, cfg.User, cfg.Password, cfg.Database
	mc.Timeout, mc.ReadTimeout, mc.WriteTimeout = cfg.Timeout, cfg.Timeout, cfg.Timeout
	mc.ClientFoundRows = true // rows matched, not changed: a renewal within the same microsecond still counts
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("mysql checkpoint store %s: %w", cfg.Address, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(8)
	db.SetConnMaxLifetime(5 * time.Minute)
	s := &MySQLStore{db: db, cfg: cfg,
		table: quoteIdent(cfg.Database) + "." + quoteIdent(cfg.Table),
		state: quoteIdent(cfg.Database) + "." + quoteIdent(cfg.Table+"_state")}
	if err := s.ensure(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *MySQLStore) wrap(what string, err error) error {
	return fmt.Errorf("mysql checkpoint store %s (%s): %s: %w", s.cfg.Address, s.table, what, err)
}

func (s *MySQLStore) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

func (s *MySQLStore) ensure(ctx context.Context) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS " + s.table + ` (
  pipeline VARCHAR(64) NOT NULL PRIMARY KEY,
  owner TEXT NULL,
  epoch BIGINT NOT NULL DEFAULT 0,
  expires_at DATETIME(6) NULL,
  checkpoint MEDIUMBLOB NULL,
  saved_at DATETIME(6) NULL
)`,
		"CREATE TABLE IF NOT EXISTS " + s.state + ` (
  pipeline VARCHAR(64) NOT NULL,
  k VARBINARY(200) NOT NULL,
  v LONGBLOB NOT NULL,
  PRIMARY KEY (pipeline, k)
)`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			what := "create the store's tables"
			var me *mysql.MySQLError
			if errors.As(err, &me) && (me.Number == 1142 || me.Number == 1044) { // command denied, access denied to the database
				what += " (create them, or give the user CREATE on the database)"
			}
			return s.wrap(what, err)
		}
	}
	return nil
}

// Describe implements Shared.
func (s *MySQLStore) Describe() string { return s.cfg.Describe() }

func (s *MySQLStore) held() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

// Load implements Store.
func (s *MySQLStore) Load(ctx context.Context, pipeline string) (*Checkpoint, error) {
	if pipeline != s.cfg.Pipeline {
		return nil, fmt.Errorf("mysql checkpoint store of pipeline %q asked for %q", s.cfg.Pipeline, pipeline)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var data []byte
	err := s.db.QueryRowContext(ctx, "SELECT checkpoint FROM "+s.table+" WHERE pipeline = ?", pipeline).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) || err == nil && data == nil {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("load checkpoint", err)
	}
	return decodeFile(fmt.Sprintf("%s row %q", s.Describe(), pipeline), pipeline, data)
}

// Save implements Store: an UPDATE guarded by the epoch and the expiry.
func (s *MySQLStore) Save(ctx context.Context, cp *Checkpoint) error {
	if cp.Pipeline != s.cfg.Pipeline {
		return fmt.Errorf("mysql checkpoint store of pipeline %q asked to save %q", s.cfg.Pipeline, cp.Pipeline)
	}
	epoch := s.held()
	if epoch == 0 {
		return fmt.Errorf("%w: the lease is not held", ErrFenced)
	}
	data, err := encodeFile(cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.table+" SET checkpoint = ?, saved_at = NOW(6) WHERE pipeline = ? AND epoch = ? AND expires_at > NOW(6)",
		data, cp.Pipeline, epoch)
	if err != nil {
		return s.wrap("save checkpoint", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("save checkpoint in %s: %w: epoch %d is not current or its lease expired", s.Describe(), ErrFenced, epoch)
	}
	return nil
}

// Close implements Store.
func (s *MySQLStore) Close() error { return s.db.Close() }

// TryAcquire implements Shared.
func (s *MySQLStore) TryAcquire(ctx context.Context, o Owner, ttl time.Duration) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, "INSERT IGNORE INTO "+s.table+" (pipeline, epoch) VALUES (?, 0)", s.cfg.Pipeline); err != nil {
		return s.wrap("create the pipeline's row", err)
	}
	if o.Since.IsZero() {
		o.Since = time.Now().UTC()
	}
	ob, _ := json.Marshal(o)
	// One statement, no transaction: a process frozen or cut off in the middle of taking the
	// lease must not leave a row lock behind that blocks the active's renewals (the server
	// keeps an open transaction of a partitioned client for as long as its connection seems
	// alive). LAST_INSERT_ID(expr) hands the new epoch back in the same reply.
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.table+" SET owner = ?, epoch = LAST_INSERT_ID(epoch + 1), expires_at = NOW(6) + INTERVAL ? MICROSECOND"+
		" WHERE pipeline = ? AND (expires_at IS NULL OR expires_at <= NOW(6))",
		string(ob), ttl.Microseconds(), s.cfg.Pipeline)
	if err != nil {
		return s.wrap("take the lease", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap("take the lease", err)
	}
	if n != 1 {
		var owner sql.NullString
		err := s.db.QueryRowContext(ctx, "SELECT owner FROM "+s.table+" WHERE pipeline = ?", s.cfg.Pipeline).Scan(&owner)
		if err != nil {
			return fmt.Errorf("%w: another process (its row could not be read: %v)", ErrLeaseHeld, s.wrap("read the lease holder", err))
		}
		return fmt.Errorf("%w: %s", ErrLeaseHeld, ownerText([]byte(owner.String)))
	}
	epoch, err := res.LastInsertId()
	if err != nil || epoch <= 0 {
		return s.wrap("take the lease", fmt.Errorf("no epoch in the reply (%v)", err))
	}
	s.mu.Lock()
	s.epoch = epoch
	s.mu.Unlock()
	return nil
}

// Renew implements Shared. The UPDATE matches the row while the epoch is this process's,
// even when the lease expired meanwhile (the store was down): nobody acquired it since, and
// this process stopped sending at its deadline, so taking it back is safe.
func (s *MySQLStore) Renew(ctx context.Context, ttl time.Duration) error {
	epoch := s.held()
	if epoch == 0 {
		return fmt.Errorf("%w: not held", ErrLeaseLost)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, "UPDATE "+s.table+" SET expires_at = NOW(6) + INTERVAL ? MICROSECOND WHERE pipeline = ? AND epoch = ?",
		ttl.Microseconds(), s.cfg.Pipeline, epoch)
	if err != nil {
		return s.wrap("renew the lease", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		s.mu.Lock()
		s.epoch = 0
		s.mu.Unlock()
		return fmt.Errorf("%w: another process acquired it (epoch %d is no longer current)", ErrLeaseLost, epoch)
	}
	return nil
}

// Release implements Shared.
func (s *MySQLStore) Release(ctx context.Context) error {
	epoch := s.held()
	if epoch == 0 {
		return nil
	}
	s.mu.Lock()
	s.epoch = 0
	s.mu.Unlock()
	ctx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, "UPDATE "+s.table+" SET expires_at = NULL WHERE pipeline = ? AND epoch = ?", s.cfg.Pipeline, epoch); err != nil {
		return s.wrap("release the lease", err)
	}
	return nil
}

// Holder implements Shared.
func (s *MySQLStore) Holder(ctx context.Context) (*Owner, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var owner sql.NullString
	err := s.db.QueryRowContext(ctx, "SELECT owner FROM "+s.table+" WHERE pipeline = ? AND expires_at > NOW(6)", s.cfg.Pipeline).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("read the lease holder", err)
	}
	var o Owner
	if json.Unmarshal([]byte(owner.String), &o) != nil {
		return nil, nil
	}
	return &o, nil
}

// State implements Shared.
func (s *MySQLStore) State() sdk.StateStore { return mysqlState{s} }

type mysqlState struct{ s *MySQLStore }

func (m mysqlState) Get(ctx context.Context, key string) ([]byte, error) {
	if err := stateKeyOK(key); err != nil {
		return nil, err
	}
	ctx, cancel := m.s.op(ctx)
	defer cancel()
	var v []byte
	err := m.s.db.QueryRowContext(ctx, "SELECT v FROM "+m.s.state+" WHERE pipeline = ? AND k = ?", m.s.cfg.Pipeline, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, m.s.wrap("read state "+key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// guard is the condition of a fenced state write: this process's epoch is current and its
// lease has not expired. It is part of the write's own statement (no transaction spans
// round trips, so a process frozen or cut off mid-write leaves no lock behind).
func (m mysqlState) guard(what string) (int64, error) {
	epoch := m.s.held()
	if epoch == 0 {
		return 0, fmt.Errorf("%s: %w: the lease is not held", what, ErrFenced)
	}
	return epoch, nil
}

func (m mysqlState) fencedErr(what string, epoch int64) error {
	return fmt.Errorf("%s in %s: %w: epoch %d is not current or its lease expired", what, m.s.Describe(), ErrFenced, epoch)
}

// stillHeld says whether the guard holds now (to tell a fenced write from one that had
// nothing to do).
func (m mysqlState) stillHeld(ctx context.Context, epoch int64) (bool, error) {
	var one int
	err := m.s.db.QueryRowContext(ctx, "SELECT 1 FROM "+m.s.table+" WHERE pipeline = ? AND epoch = ? AND expires_at > NOW(6)",
		m.s.cfg.Pipeline, epoch).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (m mysqlState) Put(ctx context.Context, key string, value []byte) error {
	if err := stateKeyOK(key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	what := "write state " + key
	epoch, err := m.guard(what)
	if err != nil {
		return err
	}
	ctx, cancel := m.s.op(ctx)
	defer cancel()
	// The row is written only when the guard row matches (INSERT ... SELECT ... WHERE).
	res, err := m.s.db.ExecContext(ctx, "INSERT INTO "+m.s.state+" (pipeline, k, v) SELECT pipeline, ?, ? FROM "+m.s.table+
		" WHERE pipeline = ? AND epoch = ? AND expires_at > NOW(6) ON DUPLICATE KEY UPDATE v = VALUES(v)",
		key, value, m.s.cfg.Pipeline, epoch)
	if err != nil {
		return m.s.wrap(what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return m.s.wrap(what, err)
	} else if n == 0 {
		return m.fencedErr(what, epoch)
	}
	return nil
}

func (m mysqlState) Delete(ctx context.Context, key string) error {
	if err := stateKeyOK(key); err != nil {
		return err
	}
	what := "delete state " + key
	epoch, err := m.guard(what)
	if err != nil {
		return err
	}
	ctx, cancel := m.s.op(ctx)
	defer cancel()
	res, err := m.s.db.ExecContext(ctx, "DELETE s FROM "+m.s.state+" s JOIN "+m.s.table+" t ON t.pipeline = s.pipeline"+
		" WHERE s.pipeline = ? AND s.k = ? AND t.epoch = ? AND t.expires_at > NOW(6)",
		m.s.cfg.Pipeline, key, epoch)
	if err != nil {
		return m.s.wrap(what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return m.s.wrap(what, err)
	} else if n == 0 {
		// Nothing deleted: the key was absent (fine) or the guard failed (fenced).
		held, err := m.stillHeld(ctx, epoch)
		if err != nil {
			return m.s.wrap(what, err)
		}
		if !held {
			return m.fencedErr(what, epoch)
		}
	}
	return nil
}

func (m mysqlState) List(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := m.s.op(ctx)
	defer cancel()
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)
	rows, err := m.s.db.QueryContext(ctx, "SELECT k FROM "+m.s.state+" WHERE pipeline = ? AND k LIKE ? ORDER BY k", m.s.cfg.Pipeline, esc+"%")
	if err != nil {
		return nil, m.s.wrap("list state", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, m.s.wrap("list state", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, m.s.wrap("list state", err)
	}
	if out == nil {
		out = []string{}
	}
	sort.Strings(out)
	return out, nil
}

var _ Shared = (*MySQLStore)(nil)
