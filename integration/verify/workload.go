package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// Workload writes concurrent INSERT/UPDATE/DELETE on Keys keys of one table
//
//	CREATE TABLE <name> (id INT PRIMARY KEY, ver BIGINT NOT NULL, pad VARCHAR(64) NOT NULL)
//
// with a per-key version: an insert or update sets ver to the key's logical version + 1;
// a delete moves the logical version one up (the deleted row keeps its ver, the verifier
// counts a delete as ver+1), so every committed change of a key has the next logical version
// and the verifier finds reordering and gaps from the messages alone.
//
// Each key belongs to one worker, so a key's changes are committed in the worker's order.
// A statement whose outcome is unknown (connection lost at commit) is resolved by reading
// the row back: its version says whether the transaction committed.
type Workload struct {
	DB      *sql.DB
	Table   string        // table name in DB's default database
	Keys    int           // keys 1..Keys
	Workers int           // concurrent connections (default 4)
	Rate    float64       // target changes per second over all workers (0: as fast as possible)
	TxnSize int           // changes per transaction (default 1)
	Deletes float64       // share of deletes among changes to existing rows (default 0.1)
	Pad     int           // pad column length (default 32, at most 64)
	Retry   time.Duration // how long a worker keeps retrying a failing database (default 2m)
	// RecordCommits keeps the commit time of every change (for CommitLatencies).
	RecordCommits bool

	commits map[int64]int64 // id<<32 | logical version → commit time (Unix ms)

	mu        sync.Mutex
	ver       map[int]int64 // logical version per key
	exists    map[int]bool
	committed atomic.Int64
	errs      atomic.Int64
	lastErr   atomic.Value
}

// CreateTable creates the workload's table.
func (w *Workload) CreateTable(ctx context.Context) error {
	_, err := w.DB.ExecContext(ctx, fmt.Sprintf("CREATE TABLE `%s` (id INT PRIMARY KEY, ver BIGINT NOT NULL, pad VARCHAR(64) NOT NULL)", w.Table))
	return err
}

func (w *Workload) init() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ver == nil {
		w.ver = map[int]int64{}
		w.exists = map[int]bool{}
	}
	if w.Workers <= 0 {
		w.Workers = 4
	}
	if w.TxnSize <= 0 {
		w.TxnSize = 1
	}
	if w.Deletes == 0 {
		w.Deletes = 0.1
	}
	if w.Pad <= 0 || w.Pad > 64 {
		w.Pad = 32
	}
	if w.Retry <= 0 {
		w.Retry = 2 * time.Minute
	}
}

// Prefill inserts keys 1..n with version 1 (counted as committed changes).
func (w *Workload) Prefill(ctx context.Context, n int) error {
	w.init()
	const chunk = 1000
	for lo := 1; lo <= n; lo += chunk {
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO `%s` (id, ver, pad) VALUES ", w.Table)
		for id := lo; id < lo+chunk && id <= n; id++ {
			if id > lo {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "(%d,1,'%s')", id, pad(id, 1, w.Pad))
		}
		if _, err := w.DB.ExecContext(ctx, b.String()); err != nil {
			return err
		}
	}
	w.mu.Lock()
	for id := 1; id <= n; id++ {
		w.ver[id], w.exists[id] = 1, true
	}
	w.mu.Unlock()
	w.committed.Add(int64(n))
	return nil
}

func pad(id int, ver int64, n int) string {
	s := fmt.Sprintf("k%d-v%d-", id, ver)
	for len(s) < n {
		s += "x"
	}
	return s[:n]
}

// Committed is the number of row changes committed so far (prefill included).
func (w *Workload) Committed() int64 { return w.committed.Load() }

// Errors is the number of failed statements (retried).
func (w *Workload) Errors() int64 { return w.errs.Load() }

// LastError is the last statement error seen, if any.
func (w *Workload) LastError() error {
	if e, ok := w.lastErr.Load().(errBox); ok {
		return e.err
	}
	return nil
}

// Versions returns the logical version of every key (for Table.Initial).
func (w *Workload) Versions() map[string]int64 {
	w.init()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int64, len(w.ver))
	for id, v := range w.ver {
		out[fmt.Sprint(id)] = v
	}
	return out
}

type errBox struct{ err error }

type change struct {
	id     int
	op     byte // 'i', 'u', 'd'
	newVer int64
}

// Run writes until ctx ends or d passed (d <= 0: until ctx ends). It returns an error only
// when a worker could not reach the database for the Retry period.
func (w *Workload) Run(ctx context.Context, d time.Duration) error {
	w.init()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var wg sync.WaitGroup
	errc := make(chan error, w.Workers)
	for i := 0; i < w.Workers; i++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			if err := w.worker(ctx, worker); err != nil {
				errc <- err
			}
		}(i)
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func (w *Workload) worker(ctx context.Context, worker int) error {
	rng := rand.New(rand.NewSource(time.Now().UnixNano() + int64(worker)))
	var mine []int
	for id := 1 + worker; id <= w.Keys; id += w.Workers {
		mine = append(mine, id)
	}
	if len(mine) == 0 {
		return nil
	}
	var interval time.Duration
	if w.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(w.TxnSize) * float64(w.Workers) / w.Rate)
	}
	next := time.Now()
	for ctx.Err() == nil {
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(d):
				}
			} else if d < -time.Second {
				next = time.Now() // fell behind: do not burst
			}
		}
		// Distinct keys of this worker for one transaction.
		picked := map[int]bool{}
		var chs []change
		w.mu.Lock()
		for len(chs) < w.TxnSize && len(picked) < len(mine) {
			id := mine[rng.Intn(len(mine))]
			if picked[id] {
				continue
			}
			picked[id] = true
			c := change{id: id, newVer: w.ver[id] + 1}
			switch {
			case !w.exists[id]:
				c.op = 'i'
			case rng.Float64() < w.Deletes:
				c.op = 'd'
			default:
				c.op = 'u'
			}
			chs = append(chs, c)
		}
		w.mu.Unlock()
		if err := w.apply(ctx, chs); err != nil {
			return err
		}
	}
	return nil
}

// apply commits one transaction, retrying until it is known to be committed or not applied.
func (w *Workload) apply(ctx context.Context, chs []change) error {
	deadline := time.Now().Add(w.Retry)
	for {
		err := w.tx(chs)
		if err == nil {
			w.done(chs)
			return nil
		}
		w.errs.Add(1)
		w.lastErr.Store(errBox{err})
		// Did it commit? Read the first key back (all or nothing).
		for {
			committed, rerr := w.committedAlready(chs[0])
			if rerr == nil {
				if committed {
					w.done(chs)
					return nil
				}
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("workload: database unreachable for %v: %v", w.Retry, rerr)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if ctx.Err() != nil {
			return nil // not committed, and time is up
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("workload: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *Workload) tx(chs []change) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := w.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, c := range chs {
		var res sql.Result
		switch c.op {
		case 'i':
			res, err = tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO `%s` (id, ver, pad) VALUES (?, ?, ?)", w.Table), c.id, c.newVer, pad(c.id, c.newVer, w.Pad))
		case 'u':
			res, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE `%s` SET ver = ?, pad = ? WHERE id = ?", w.Table), c.newVer, pad(c.id, c.newVer, w.Pad), c.id)
		case 'd':
			res, err = tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM `%s` WHERE id = ?", w.Table), c.id)
		}
		if err == nil {
			if n, _ := res.RowsAffected(); n != 1 {
				err = fmt.Errorf("%c of key %d affected %d rows", c.op, c.id, n)
			}
		}
		if err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// committedAlready reads c's key back: after its change, the row has ver newVer (insert,
// update) or is gone (delete).
func (w *Workload) committedAlready(c change) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ver int64
	err := w.DB.QueryRowContext(ctx, fmt.Sprintf("SELECT ver FROM `%s` WHERE id = ?", w.Table), c.id).Scan(&ver)
	if errors.Is(err, sql.ErrNoRows) {
		return c.op == 'd', nil
	}
	if err != nil {
		return false, err
	}
	return c.op != 'd' && ver == c.newVer, nil
}

func (w *Workload) done(chs []change) {
	now := time.Now().UnixMilli()
	w.mu.Lock()
	if w.RecordCommits && w.commits == nil {
		w.commits = map[int64]int64{}
	}
	for _, c := range chs {
		if w.RecordCommits {
			w.commits[int64(c.id)<<32|c.newVer] = now
		}
		w.ver[c.id] = c.newVer
		w.exists[c.id] = c.op != 'd'
	}
	w.mu.Unlock()
	w.committed.Add(int64(len(chs)))
}

// CommitLatencies returns, for every first copy of a change message of the workload's table
// whose commit time the workload recorded, the broker's store time minus the time the
// workload saw its commit return: an end-to-end latency measured outside ferry. Sorted.
func (w *Workload) CommitLatencies(format string, msgs []harness.Received) []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	var out []time.Duration
	for _, m := range msgs {
		id := m.Properties[PropID]
		if id == "" || seen[id] || m.Properties[PropOp] == "snapshot" || m.Properties[PropTable] != w.Table {
			continue
		}
		ev, err := Decode(format, m.Body)
		if err != nil || ev.Skip {
			continue
		}
		seen[id] = true
		key, err1 := strconv.ParseInt(ev.Row["id"], 10, 64)
		ver, err2 := strconv.ParseInt(ev.Row["ver"], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if ev.Op == "delete" {
			ver++
		}
		if at, ok := w.commits[key<<32|ver]; ok {
			out = append(out, m.StoredAt.Sub(time.UnixMilli(at)))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
