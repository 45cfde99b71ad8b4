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
	if cfg.Table == "" {
		cfg.Table = "ferry_checkpoints"
	}
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
			return s.wrap("create the store's tables (or give the user CREATE on the database)", err)
		}
	}
	return nil
}

// Describe implements Shared.
func (s *MySQLStore) Describe() string {
	return fmt.Sprintf("mysql %s, table %s.%s", s.cfg.Address, s.cfg.Database, s.cfg.Table)
}

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
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("begin", err)
	}
	defer tx.Rollback()
	var owner sql.NullString
	var epoch int64
	var live bool
	err = tx.QueryRowContext(ctx, "SELECT owner, epoch, COALESCE(expires_at > NOW(6), 0) FROM "+s.table+" WHERE pipeline = ? FOR UPDATE",
		s.cfg.Pipeline).Scan(&owner, &epoch, &live)
	if err != nil {
		return s.wrap("read the lease holder", err)
	}
	if live {
		return fmt.Errorf("%w: %s", ErrLeaseHeld, ownerText([]byte(owner.String)))
	}
	if o.Since.IsZero() {
		o.Since = time.Now().UTC()
	}
	ob, _ := json.Marshal(o)
	if _, err := tx.ExecContext(ctx, "UPDATE "+s.table+" SET owner = ?, epoch = ?, expires_at = NOW(6) + INTERVAL ? MICROSECOND WHERE pipeline = ?",
		string(ob), epoch+1, ttl.Microseconds(), s.cfg.Pipeline); err != nil {
		return s.wrap("take the lease", err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrap("take the lease", err)
	}
	s.mu.Lock()
	s.epoch = epoch + 1
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

// fenced runs write in a transaction that holds the pipeline row's share lock while the
// epoch is this process's and its lease has not expired.
func (m mysqlState) fenced(ctx context.Context, what string, write func(tx *sql.Tx) error) error {
	epoch := m.s.held()
	if epoch == 0 {
		return fmt.Errorf("%s: %w: the lease is not held", what, ErrFenced)
	}
	ctx, cancel := m.s.op(ctx)
	defer cancel()
	tx, err := m.s.db.BeginTx(ctx, nil)
	if err != nil {
		return m.s.wrap(what, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, "SELECT 1 FROM "+m.s.table+" WHERE pipeline = ? AND epoch = ? AND expires_at > NOW(6) LOCK IN SHARE MODE",
		m.s.cfg.Pipeline, epoch).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s in %s: %w: epoch %d is not current or its lease expired", what, m.s.Describe(), ErrFenced, epoch)
	}
	if err != nil {
		return m.s.wrap(what, err)
	}
	if err := write(tx); err != nil {
		return m.s.wrap(what, err)
	}
	if err := tx.Commit(); err != nil {
		return m.s.wrap(what, err)
	}
	return nil
}

func (m mysqlState) Put(ctx context.Context, key string, value []byte) error {
	if err := stateKeyOK(key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return m.fenced(ctx, "write state "+key, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "REPLACE INTO "+m.s.state+" (pipeline, k, v) VALUES (?, ?, ?)", m.s.cfg.Pipeline, key, value)
		return err
	})
}

func (m mysqlState) Delete(ctx context.Context, key string) error {
	if err := stateKeyOK(key); err != nil {
		return err
	}
	return m.fenced(ctx, "delete state "+key, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM "+m.s.state+" WHERE pipeline = ? AND k = ?", m.s.cfg.Pipeline, key)
		return err
	})
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
