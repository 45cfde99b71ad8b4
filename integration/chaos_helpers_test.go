//go:build integration

package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// The chaos tests run short by default (in `make test`): few kills, small tables. FERRY_CHAOS=full
// (make test-chaos) runs the full version; -chaos.kills overrides the number of kill -9s.
var chaosKills = flag.Int("chaos.kills", 0, "kill -9s of ferry in the kill scenario (0: 4 short, 12 full)")

func chaosFull() bool { return os.Getenv("FERRY_CHAOS") == "full" }

// pick returns short or full by mode.
func pick[T any](short, full T) T {
	if chaosFull() {
		return full
	}
	return short
}

// ferryProc is one run of the real ferry binary.
type ferryProc struct {
	t          testing.TB
	cmd        *exec.Cmd
	logs       *syncBuffer
	done       chan struct{}
	err        error
	statusAddr string
}

// mountTmpfs mounts a tmpfs of size (mount's size option) on a fresh directory until the
// test ends; the test is skipped without root or when mount fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startFerry runs `ferry run` on the pipeline file with a status server on a free port.
func startFerry(t testing.TB, bin, cfg string, env []string, extra ...string) *ferryProc {
	t.Helper()
	return startFerryWith(t, func(_ string, name string, args ...string) *exec.Cmd { return exec.Command(name, args...) },
		bin, cfg, env, extra...)
}

// startFerryWith is startFerry with the command made by command (given the status address
// first: a process in a network namespace has its status server exposed on the host).
func startFerryWith(t testing.TB, command func(statusAddr, name string, args ...string) *exec.Cmd, bin, cfg string, env []string, extra ...string) *ferryProc {
	t.Helper()
	f := &ferryProc{t: t, logs: &syncBuffer{}, done: make(chan struct{}), statusAddr: freeAddr(t)}
	args := append([]string{"--log-level", "warn", "run", "--status-addr", f.statusAddr}, extra...)
	f.cmd = command(f.statusAddr, bin, append(args, cfg)...)
	f.cmd.Env = append(os.Environ(), env...)
	f.cmd.Stdout, f.cmd.Stderr = f.logs, f.logs
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.err = f.cmd.Wait(); close(f.done) }()
	t.Cleanup(func() { f.kill() })
	return f
}

func (f *ferryProc) exited() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

func (f *ferryProc) kill() {
	if !f.exited() {
		_ = f.cmd.Process.Signal(syscall.SIGKILL)
		<-f.done
	}
}

// stop asks ferry to stop (SIGINT) and waits up to d.
func (f *ferryProc) stop(d time.Duration) error {
	if f.exited() {
		return f.err
	}
	_ = f.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-f.done:
		return f.err
	case <-time.After(d):
		f.kill()
		return fmt.Errorf("ferry did not stop within %v", d)
	}
}

// ferryStatus is the part of /status the tests read.
type ferryStatus struct {
	Phase          string `json:"phase"`
	RecordsWritten uint64 `json:"records_written"`
	ChangesRead    uint64 `json:"changes_read"`
	LastError      string `json:"last_error"`
	Latency        struct {
		Samples int     `json:"samples"`
		P50Ms   float64 `json:"p50_ms"`
		P99Ms   float64 `json:"p99_ms"`
	} `json:"latency"`
	Retention *struct {
		Changes        uint64 `json:"changes"`
		Bytes          int64  `json:"bytes"`
		LeadChanges    uint64 `json:"lead_changes"`
		LeadBytes      int64  `json:"lead_bytes"`
		SourcePosition string `json:"source_position"`
		Waiting        string `json:"waiting"`
	} `json:"retention"`
	Lease *struct {
		Role        string    `json:"role"`
		Error       string    `json:"error"`
		Since       time.Time `json:"since"`
		FencedUntil time.Time `json:"fenced_until"`
	} `json:"lease"`
}

func (f *ferryProc) status() (ferryStatus, error) {
	var s ferryStatus
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + f.statusAddr + "/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// waitWritten waits until ferry has written at least n records (its start position is then
// taken: the snapshot or stream is under way).
func (f *ferryProc) waitWritten(n uint64, d time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f.exited() {
			f.t.Fatalf("ferry exited: %v\n%s", f.err, f.logs.String())
		}
		if s, err := f.status(); err == nil && s.RecordsWritten >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatalf("ferry wrote fewer than %d records in %v\n%s", n, d, f.logs.String())
}

// chaosPipeline describes the pipeline file of a chaos run.
type chaosPipeline struct {
	Name         string
	DBAddr       string
	DBUser       string
	Tables       []string
	ServerID     int
	Format       string
	OutOfProcess bool
	NameServer   string
	Topic        string
	CheckpointIn string // checkpoint dir
	Writers      int
	Retention    string // the retention block's body ("": none)
}

func (p chaosPipeline) write(t testing.TB, dir string) string {
	t.Helper()
	tables := make([]string, len(p.Tables))
	for i, tb := range p.Tables {
		tables[i] = strconv.Quote(tb)
	}
	ser := ""
	if p.OutOfProcess {
		ser = "out_of_process = true"
	}
	if p.Format == "dataworks" {
		ser += "\n    business_name = \"ferry-chaos\""
	}
	if p.Writers == 0 {
		p.Writers = 4
	}
	retention := ""
	if p.Retention != "" {
		retention = "  retention {\n    " + strings.ReplaceAll(strings.TrimSpace(p.Retention), "\n", "\n    ") + "\n  }\n"
	}
	cfg := fmt.Sprintf(`pipeline %q {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("CHAOS_DB_PASSWORD")
    tables    = [%s]
    server_id = %d
    heartbeat_interval = "1s"
  }
  serializer %q {
    %s
  }
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
    send_timeout = "3s"
    route_refresh = "5s"
  }
  runtime {
    writers = %d
  }
  checkpoint {
    dir      = %q
    interval = "200ms"
  }
%s}
`, p.Name, p.DBAddr, p.DBUser, strings.Join(tables, ", "), p.ServerID, p.Format, ser, p.NameServer, p.Topic, p.Writers, p.CheckpointIn, retention)
	path := filepath.Join(dir, p.Name+".hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// chaosRun is one scenario: a database with the workload table, a topic, ferry, a workload.
type chaosRun struct {
	t        *testing.T
	name     string
	bin      string
	db       *sql.DB
	dbName   string
	password string
	broker   harness.Broker
	topic    string
	format   string
	cfg      string
	ferry    *ferryProc
	wl       *verify.Workload
	initial  map[string]int64
	wlCancel context.CancelFunc
	wlDone   chan error
	// check, when set, checks each message's row (verify.Table.Check)
	check         func(row map[string]string) string
	columns       []string // compared with the table's final state (nil: all)
	checkpointDir string
}

type chaosOpts struct {
	Name         string
	DBAddr       string // "" = the shared test bed
	DBUser       string
	DBPassword   string
	Broker       harness.Broker
	Format       string
	OutOfProcess bool
	Rows         int     // prefilled rows (the snapshot)
	Keys         int     // workload keys (>= Rows)
	Rate         float64 // workload changes/s
	CheckpointIn string  // "" = a temp dir
	ServerID     int
	Retention    string // the retention block's body ("": no retention block)
}

// openDB opens (creating the database) a handle as the test user on addr.
func openDB(t testing.TB, addr, user, password, db string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, password, "tcp", addr
	cfg.Timeout = 5 * time.Second
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + db + "`"); err != nil {
		t.Fatalf("drop %s on %s: %v", db, addr, err)
	}
	if _, err := admin.Exec("CREATE DATABASE `" + db + "`"); err != nil {
		t.Fatalf("create %s on %s: %v", db, addr, err)
	}
	cfg.DBName = db
	h, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	h.SetMaxOpenConns(32)
	t.Cleanup(func() { h.Close() })
	return h
}

func newChaosRun(t *testing.T, o chaosOpts) *chaosRun {
	t.Helper()
	env := harness.Env()
	if o.DBAddr == "" {
		o.DBAddr, o.DBUser, o.DBPassword = env.MariaDBAddr, env.MariaDBUser, env.MariaDBPassword
	}
	if o.Format == "" {
		o.Format = "canal"
	}
	if o.Keys < o.Rows {
		o.Keys = o.Rows
	}
	r := &chaosRun{t: t, name: o.Name, bin: ferryBinary(t), broker: o.Broker, format: o.Format, password: o.DBPassword}
	r.dbName = "ferry_chaos_" + strings.ReplaceAll(o.Name, "-", "_")
	r.db = openDB(t, o.DBAddr, o.DBUser, o.DBPassword, r.dbName)
	t.Cleanup(func() {
		if h, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/", o.DBUser, o.DBPassword, o.DBAddr)); err == nil {
			_, _ = h.Exec("DROP DATABASE IF EXISTS `" + r.dbName + "`")
			h.Close()
		}
	})
	r.wl = &verify.Workload{DB: r.db, Table: "t", Keys: o.Keys, Rate: o.Rate, Workers: 4}
	ctx := context.Background()
	if err := r.wl.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	if o.Rows > 0 {
		if err := r.wl.Prefill(ctx, o.Rows); err != nil {
			t.Fatal(err)
		}
	}
	r.topic = harness.UniqueName("ferry_chaos_" + strings.ReplaceAll(o.Name, "-", "_"))
	harness.CreateTopic(t, o.Broker, r.topic, 8)
	cp := o.CheckpointIn
	if cp == "" {
		cp = filepath.Join(t.TempDir(), "cp")
	}
	if o.ServerID == 0 {
		o.ServerID = 7000 + int(time.Now().UnixNano()%1000)
	}
	r.checkpointDir = cp
	r.cfg = chaosPipeline{Name: "chaos", DBAddr: o.DBAddr, DBUser: o.DBUser, Tables: []string{r.dbName + ".t"},
		ServerID: o.ServerID, Format: o.Format, OutOfProcess: o.OutOfProcess, NameServer: o.Broker.NameServer,
		Topic: r.topic, CheckpointIn: cp, Retention: o.Retention}.write(t, t.TempDir())
	r.initial = r.wl.Versions()
	return r
}

// start (re)starts ferry; the first start runs the prechecks, restarts skip them.
func (r *chaosRun) start() *ferryProc {
	var extra []string
	if r.ferry != nil {
		extra = []string{"--no-precheck"}
	}
	r.ferry = startFerry(r.t, r.bin, r.cfg, []string{"CHAOS_DB_PASSWORD=" + r.password}, extra...)
	return r.ferry
}

// startWorkload starts the concurrent writes (after ferry took its start position).
func (r *chaosRun) startWorkload() {
	ctx, cancel := context.WithCancel(context.Background())
	r.wlCancel, r.wlDone = cancel, make(chan error, 1)
	go func() { r.wlDone <- r.wl.Run(ctx, 0) }()
}

func (r *chaosRun) stopWorkload() {
	if r.wlCancel == nil {
		return
	}
	r.wlCancel()
	if err := <-r.wlDone; err != nil {
		r.t.Fatalf("workload: %v", err)
	}
	r.wlCancel = nil
}

// finish stops the writes, makes sure ferry runs, and waits until the verifier passes;
// it records the scenario's summary.
func (r *chaosRun) finish(timeout time.Duration) verify.Summary {
	r.t.Helper()
	r.stopWorkload()
	if r.ferry == nil || r.ferry.exited() {
		if r.ferry != nil {
			r.t.Logf("ferry had exited (%v); restarting", r.ferry.err)
		}
		r.start()
	}
	c, err := verify.NewConsumer(r.broker.NameServer, r.topic)
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tables := []verify.Table{{DB: r.dbName, Name: "t", Key: []string{"id"}, Version: "ver", Initial: r.initial, Check: r.check, Columns: r.columns}}
	s, err := verify.Until(ctx, c, r.db, r.format, tables, 3*time.Second)
	s.Written = r.wl.Committed()
	recordSummary(r.name, s)
	r.t.Logf("%s: %s", r.name, s)
	if err != nil || !s.OK() {
		r.t.Errorf("%s: verifier failed: %v\nproblems:\n  %s\nferry log tail:\n%s", r.name, err, strings.Join(s.Problems, "\n  "), tail(r.ferry.logs.String(), 3000))
	}
	if err := r.ferry.stop(30 * time.Second); err != nil {
		r.t.Logf("ferry stop: %v", err)
	}
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var (
	summaryMu   sync.Mutex
	summaryRows []string
)

func recordSummary(name string, s verify.Summary) {
	summaryMu.Lock()
	defer summaryMu.Unlock()
	summaryRows = append(summaryRows, s.Row(name))
}

func printSummaries(t *testing.T) {
	summaryMu.Lock()
	defer summaryMu.Unlock()
	if len(summaryRows) == 0 {
		return
	}
	out := verify.Header() + "\n" + strings.Join(summaryRows, "\n")
	t.Log("chaos summary:\n" + out)
	fmt.Println(out)
	summaryRows = nil
}
