// Command bench measures ferry end to end on the local test bed (make up) and prints one table
// (also written as CSV to bench-results/bench-<date>.csv):
//
//   - snapshot rows/s and MB/s (mode "full": the snapshot of a prefilled table, then exit),
//     in process and with the serializer out of process;
//   - incremental changes/s at saturation (a backlog of binlog changes read from
//     start_timestamp as fast as ferry can);
//   - p50/p99 latency at a fixed load (broker store time − the workload's commit time, and
//     ferry's /status);
//   - peak RSS of ferry (VmHWM from /proc);
//   - the same broker's ceiling with a plain batched rocketmq-client-go producer sending
//     messages of the same size to the same kind of topic, and ferry's figures as ratios of it.
//
// Usage: go run ./integration/cmd/bench [-rows 200000] [-backlog 200000] [-rate 2000] [-out bench-results]
// FERRY_BIN names the ferry binary (else it is built).
package main

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	_ "github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

var (
	rowsFlag    = flag.Int("rows", 200000, "rows of the snapshot table")
	backlogFlag = flag.Int("backlog", 200000, "binlog changes of the saturation run")
	rateFlag    = flag.Float64("rate", 2000, "changes/s of the fixed-load latency run")
	loadDur     = flag.Duration("load", 30*time.Second, "duration of the fixed-load run")
	outDir      = flag.String("out", "bench-results", "directory of the CSV file")
	rmq         = flag.Int("rmq", 5, "RocketMQ major version of the test bed to use (4 or 5)")
	only        = flag.String("only", "", "run only these sections, comma-separated: snapshot, incremental, latency, ceiling, formats, debezium, starttime (default all)")
	profDir     = flag.String("profile", "", "write ferry's CPU and heap profiles (go tool pprof) and output of each run of the formats section into this directory")
	wideRows    = flag.Int("wide-rows", 200000, "rows of the wide (10-column) table of the formats section")
	wideChanges = flag.Int("wide-changes", 200000, "binlog changes (UPDATEs of the wide table) of the formats section")
	sourceAttrs = flag.String("source-attrs", "", "extra attributes of every ferry run's source block, for experiments (e.g. 'reader_memory = \"16MiB\"')")
	snapConc    = flag.Int("snapshot-concurrency", 2, "snapshot_concurrency of every ferry run's source (the source's default is 4)")
)

type result struct{ name, value, unit, note string }

var results []result

func add(name string, v float64, unit, note string) {
	prec := 1
	if unit == "x" {
		prec = 2
	}
	results = append(results, result{name, strconv.FormatFloat(v, 'f', prec, 64), unit, note})
	log.Printf("%s: %.1f %s %s", name, v, unit, note)
}

// bed is what every section of the bench shares: the servers, the ferry binary, the
// database, and figures one section hands to a later one.
type bed struct {
	env      harness.Environment
	broker   harness.Broker
	bin      string
	dbName   string
	db       *sql.DB
	snapRate float64 // snapshot rows/s in process (for the ceiling ratio)
	incRate  float64 // incremental changes/s (for the ceiling ratio)
	msgBytes float64 // mean message size of the snapshot (for the ceiling's messages)
	ceiling  float64 // the broker's plain-producer ceiling, msgs/s, once measured
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	env := harness.Env()
	if p := env.Check(harness.MariaDB, harness.RocketMQ5, harness.RocketMQ4); len(p) > 0 {
		log.Fatalf("test bed not available (make up): %v", p)
	}
	b := &bed{env: env, broker: env.RMQ5(), bin: ferryBin(), dbName: "ferry_bench"}
	if *rmq == 4 {
		b.broker = env.RMQ4()
	}
	b.db = mustDB(env, b.dbName)
	defer b.db.Close()
	if *profDir != "" {
		must(os.MkdirAll(*profDir, 0o755))
	}
	for _, s := range []struct {
		name string
		run  func(*bed)
	}{
		{"snapshot", benchSnapshot},
		{"incremental", benchIncremental},
		{"latency", benchLatency},
		{"ceiling", benchCeiling},
		{"formats", benchFormats},
		{"debezium", benchDebezium},   // Debezium Server side by side (debezium.go)
		{"starttime", benchStartTime}, // start_timestamp on a large binlog file (starttime.go)
	} {
		if section(s.name) {
			s.run(b)
		}
	}
	_, _ = b.db.Exec("DROP DATABASE IF EXISTS " + b.dbName)
	printAndSave(b.broker)
}

// section tells whether -only selects the named section (all when -only is empty).
func section(name string) bool {
	if *only == "" {
		return true
	}
	return slices.Contains(strings.Split(*only, ","), name)
}

// profile is the CPU profile file of a run named name under -profile, or "" without it.
func profile(name string) string {
	if *profDir == "" {
		return ""
	}
	return filepath.Join(*profDir, name+".pprof")
}

// 1. Snapshot, in process and out of process.
func benchSnapshot(b *bed) {
	wl := &verify.Workload{DB: b.db, Table: "t", Keys: *rowsFlag}
	must(wl.CreateTable(context.Background()))
	must(wl.Prefill(context.Background(), *rowsFlag))
	for _, oop := range []bool{false, true} {
		topic := createTopic(b.broker, "ferry_bench_snap")
		r := runFerry(b.bin, b.env, b.broker, topic, b.dbName, pipelineOpts{mode: "full", oop: oop})
		secs := r.elapsed.Seconds()
		label := "in process"
		if oop {
			label = "serializer out of process"
		}
		rate := float64(*rowsFlag) / secs
		add("snapshot rows/s ("+label+")", rate, "rows/s", fmt.Sprintf("%d rows in %.1fs, process start to exit", *rowsFlag, secs))
		add("snapshot MB/s ("+label+")", float64(r.bytes)/secs/1e6, "MB/s", "message bytes written (/status bytes_written)")
		add("ferry peak RSS (snapshot, "+label+")", float64(r.rssKB)/1024, "MiB", "VmHWM")
		if !oop {
			b.snapRate = rate
			if r.records > 0 {
				b.msgBytes = float64(r.bytes) / float64(r.records)
			}
		}
	}
}

// 2. Incremental at saturation: a backlog written while ferry is not running, read from
// start_timestamp.
func benchIncremental(b *bed) {
	_, _ = b.db.Exec("DROP TABLE IF EXISTS t2")
	wl2 := &verify.Workload{DB: b.db, Table: "t2", Keys: 20000, Workers: 4, TxnSize: 100}
	must(wl2.CreateTable(context.Background()))
	startTS := time.Now().Add(-time.Second).UTC().Format("2006-01-02 15:04:05")
	for wl2.Committed() < int64(*backlogFlag) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for wl2.Committed() < int64(*backlogFlag) {
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
		}()
		must(wl2.Run(ctx, 0))
	}
	backlog := wl2.Committed()
	// The same backlog is read with retention off and on, alternating, three times each,
	// after a warm-up run that does not count (the first read of a backlog is slower: the
	// server's caches); the figure of each is the median of its runs, and on/off is their
	// ratio (same run).
	rates := map[bool][]float64{}
	cpus := map[bool][]float64{}
	var incRSS int64
	for i, ret := range []bool{false, false, true, false, true, false, true} {
		topic := createTopic(b.broker, "ferry_bench_incr")
		r := runFerry(b.bin, b.env, b.broker, topic, b.dbName, pipelineOpts{mode: "incremental", table: "t2", startTS: startTS, until: uint64(backlog), retention: ret})
		if i == 0 {
			continue // warm-up
		}
		rates[ret] = append(rates[ret], float64(backlog)/r.sinceFirst.Seconds())
		cpus[ret] = append(cpus[ret], r.cpu.Seconds()/float64(backlog)*1e6)
		if !ret {
			incRSS = max(incRSS, r.rssKB)
		}
		log.Printf("incremental, retention %v: %.0f changes/s, %.1f CPU-s per million changes", ret, rates[ret][len(rates[ret])-1], cpus[ret][len(cpus[ret])-1])
	}
	b.incRate = median(rates[false])
	add("incremental changes/s at saturation", b.incRate, "changes/s", fmt.Sprintf("backlog of %d binlog changes, first to last record, median of 3 runs", backlog))
	add("incremental CPU-s per million changes", median(cpus[false]), "CPU-s", "ferry's user+system time, process start to exit, median of 3 runs")
	add("ferry peak RSS (incremental)", float64(incRSS)/1024, "MiB", "VmHWM")
	add("incremental changes/s with retention", median(rates[true]), "changes/s", "the same backlog through the local change store, median of 3 runs alternating with the runs without")
	add("incremental CPU-s per million changes with retention", median(cpus[true]), "CPU-s", "median of 3 runs")
	add("retention on / off (incremental throughput)", median(rates[true])/b.incRate, "x", "same run; the issue's floor is 0.9x")
}

// 3. Latency at a fixed load.
func benchLatency(b *bed) {
	_, _ = b.db.Exec("DROP TABLE IF EXISTS t3")
	wl3 := &verify.Workload{DB: b.db, Table: "t3", Keys: 20000, Workers: 4, TxnSize: 5, Rate: *rateFlag, RecordCommits: true}
	must(wl3.CreateTable(context.Background()))
	topic3 := createTopic(b.broker, "ferry_bench_lat")
	r3 := runFerry(b.bin, b.env, b.broker, topic3, b.dbName, pipelineOpts{mode: "incremental", table: "t3", during: func() {
		must(wl3.Run(context.Background(), *loadDur))
	}})
	c, err := verify.NewConsumer(b.broker.NameServer, topic3)
	must(err)
	for c.Count() < int(wl3.Committed()) && c.Quiet() < 10*time.Second {
		time.Sleep(500 * time.Millisecond)
	}
	msgs := c.Messages()
	c.Close()
	lat := wl3.CommitLatencies("canal", msgs)
	ach := float64(wl3.Committed()) / loadDur.Seconds()
	note := fmt.Sprintf("%.0f changes/s achieved for %v, %d samples", ach, *loadDur, len(lat))
	add("latency p50 at fixed load (store − workload commit)", ms(verify.Percentile(lat, 50)), "ms", note)
	add("latency p99 at fixed load (store − workload commit)", ms(verify.Percentile(lat, 99)), "ms", note)
	add("latency p50 at fixed load (ferry /status)", r3.status.Latency.P50Ms, "ms", "commit-to-ack, binlog whole-second commit times")
	add("latency p99 at fixed load (ferry /status)", r3.status.Latency.P99Ms, "ms", "commit-to-ack, binlog whole-second commit times")
	add("ferry peak RSS (fixed load)", float64(r3.rssKB)/1024, "MiB", "VmHWM")
}

// 4. The broker's ceiling: a plain batched producer, messages of ferry's average size.
func benchCeiling(b *bed) {
	if b.msgBytes == 0 {
		b.msgBytes = 300
	}
	b.ceiling = producerCeiling(b.broker, int(b.msgBytes), 400000)
	add("broker ceiling (plain batched producer)", b.ceiling, "msgs/s", fmt.Sprintf("rocketmq-client-go, 4 goroutines x per-queue batches of 256, %d-byte bodies, 8 queues", int(b.msgBytes)))
	if b.snapRate > 0 {
		add("ferry snapshot / broker ceiling", 100*b.snapRate/b.ceiling, "%", "")
	}
	if b.incRate > 0 {
		add("ferry incremental saturation / broker ceiling", 100*b.incRate/b.ceiling, "%", "")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func ferryBin() string {
	if p := os.Getenv("FERRY_BIN"); p != "" {
		return p
	}
	dir, err := os.MkdirTemp("", "ferry-bench")
	must(err)
	p := filepath.Join(dir, "ferry")
	out, err := exec.Command("go", "build", "-o", p, "github.com/ferry-cdc/ferry/core/cmd/ferry").CombinedOutput()
	if err != nil {
		log.Fatalf("build ferry: %v\n%s", err, out)
	}
	return p
}

func mustDB(env harness.Environment, name string) *sql.DB {
	admin, err := sql.Open("mysql", env.MariaDBDSN(""))
	must(err)
	defer admin.Close()
	_, err = admin.Exec("DROP DATABASE IF EXISTS " + name)
	must(err)
	_, err = admin.Exec("CREATE DATABASE " + name)
	must(err)
	db, err := sql.Open("mysql", env.MariaDBDSN(name))
	must(err)
	db.SetMaxOpenConns(16)
	return db
}

func createTopic(b harness.Broker, prefix string) string {
	topic := harness.UniqueName(prefix)
	args := []string{"updateTopic", "-n", b.NameServer, "-c", harness.Cluster, "-t", topic, "-r", "8", "-w", "8"}
	out, err := exec.Command(b.MQAdmin, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "success") {
		log.Fatalf("create topic: %v %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, err = harness.WaitForRoute(ctx, b, topic, 8)
	must(err)
	return topic
}

type pipelineOpts struct {
	mode      string // full | incremental
	table     string // default "t"
	oop       bool
	startTS   string
	until     uint64 // incremental: stop after this many records
	during    func() // incremental: run this while ferry streams, then stop
	retention bool   // with a retention block (the local change store between reader and writer)
	format    string // serializer plugin; default "canal"
	serBody   string // serializer block's settings (besides out_of_process)
	cpuProf   string // write ferry's CPU profile of the whole run to this file
}

type run struct {
	elapsed, sinceFirst time.Duration
	records, bytes      uint64
	rssKB               int64
	cpu                 time.Duration // ferry's user + system CPU time, process start to exit
	cpuFirst            time.Duration // the same, process start to its first record
	toFirst             time.Duration // process start to its first record
	status              status
}

type status struct {
	Phase          string `json:"phase"`
	RecordsWritten uint64 `json:"records_written"`
	BytesWritten   uint64 `json:"bytes_written"`
	Latency        struct {
		P50Ms float64 `json:"p50_ms"`
		P99Ms float64 `json:"p99_ms"`
	} `json:"latency"`
}

// runFerry runs ferry on table db.<o.table> into topic until it stops (a full run at the
// end of its snapshot; an incremental run after o.until records, or after o.during) and
// returns what it measured: elapsed time, records and bytes, CPU and peak RSS.
func runFerry(bin string, env harness.Environment, b harness.Broker, topic, db string, o pipelineOpts) run {
	dir, err := os.MkdirTemp("", "ferry-bench")
	must(err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bench.hcl")
	must(os.WriteFile(path, []byte(ferryConfig(env, b, topic, db, o)), 0o644))
	f := startFerry(bin, env, path, o.cpuProf)
	if o.during != nil {
		go f.during(o.during)
	}
	return f.watch(o)
}

// ferryConfig is the configuration of a bench run of options o into topic.
func ferryConfig(env harness.Environment, b harness.Broker, topic, db string, o pipelineOpts) string {
	if o.table == "" {
		o.table = "t"
	}
	src := fmt.Sprintf("mode = %q\n    snapshot_concurrency = %d\n", o.mode, *snapConc)
	if o.startTS != "" {
		src += fmt.Sprintf("    start_timestamp = %q\n", o.startTS)
	}
	if *sourceAttrs != "" {
		src += "    " + *sourceAttrs + "\n"
	}
	ser := o.serBody
	if o.oop {
		ser += "\n    out_of_process = true"
	}
	if o.format == "" {
		o.format = "canal"
	}
	return fmt.Sprintf(`pipeline "bench" {
  source "oceanbase" {
    address   = %q
    user      = %q
    password  = env("BENCH_DB_PASSWORD")
    tables    = ["%s.%s"]
    server_id = %d
    %s
  }
  serializer %q {
    %s
  }
  sink "rocketmq" {
    name_servers = [%q]
    topic        = %q
  }
  runtime {
    writers = 4
  }
  checkpoint {
    dir = "cp"
  }
%s}
`, env.MariaDBAddr, env.MariaDBUser, db, o.table, 9000+time.Now().Nanosecond()%1000, src, o.format, ser, b.NameServer, topic, retentionBlock(o.retention))
}

// ferryProcess is a running ferry of the bench, its status served on addr.
type ferryProcess struct {
	cmd      *exec.Cmd
	addr     string
	start    time.Time
	done     chan error // cmd.Wait's result
	logs     strings.Builder
	logMu    sync.Mutex
	stopOnce sync.Once
	lastMu   sync.Mutex // last is set by during's goroutine and by watch
	last     status     // the last status sampled
}

func (f *ferryProcess) setLast(st status) {
	f.lastMu.Lock()
	f.last = st
	f.lastMu.Unlock()
}

// startFerry starts `bin run` on the configuration at path, with CPU and heap profiles
// beside cpuProf when set.
func startFerry(bin string, env harness.Environment, path, cpuProf string) *ferryProcess {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	f := &ferryProcess{addr: l.Addr().String(), done: make(chan error, 1)}
	l.Close()
	args := []string{"--log-level", "warn", "run", "--no-precheck", "--status-addr", f.addr}
	if cpuProf != "" {
		args = append(args, "--cpu-profile", cpuProf, "--mem-profile", strings.TrimSuffix(cpuProf, ".pprof")+".heap")
	}
	f.cmd = exec.Command(bin, append(args, path)...)
	f.cmd.Env = append(os.Environ(), "BENCH_DB_PASSWORD="+env.MariaDBPassword)
	f.cmd.Stdout = writerFunc(func(p []byte) (int, error) { f.logMu.Lock(); defer f.logMu.Unlock(); return f.logs.Write(p) })
	f.cmd.Stderr = f.cmd.Stdout
	f.start = time.Now()
	must(f.cmd.Start())
	go func() { f.done <- f.cmd.Wait() }()
	return f
}

// stop asks ferry to stop (SIGINT), once.
func (f *ferryProcess) stop() {
	f.stopOnce.Do(func() { _ = f.cmd.Process.Signal(syscall.SIGINT) })
}

// during runs workload once ferry runs and its binlog stream is up, then samples the status a
// last time and stops ferry.
func (f *ferryProcess) during(workload func()) {
	// Wait until ferry runs (its status answers "running") and its binlog stream is
	// up; an incremental run writes nothing before the workload does.
	for {
		if st, err := getStatus(f.addr); err == nil && st.Phase == "running" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	workload()
	time.Sleep(3 * time.Second)
	if st, err := getStatus(f.addr); err == nil {
		f.setLast(st)
	}
	f.stop()
}

// watch samples ferry's peak RSS and status every 50 ms, stops it after o.until records,
// and returns the run's figures when it has exited.
func (f *ferryProcess) watch(o pipelineOpts) run {
	var r run
	var first time.Time
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case err := <-f.done:
			return f.exited(err, o, r)
		case <-ticker.C:
			if kb := hwmKB(f.cmd.Process.Pid); kb > r.rssKB {
				r.rssKB = kb
			}
			st, err := getStatus(f.addr)
			if err != nil {
				continue
			}
			if o.during == nil {
				f.setLast(st)
			}
			if first.IsZero() && st.RecordsWritten > 0 {
				first = time.Now()
				r.toFirst = first.Sub(f.start)
				r.cpuFirst = cpuTime(f.cmd.Process.Pid)
			}
			if o.until > 0 && st.RecordsWritten >= o.until {
				r.sinceFirst = time.Since(first)
				f.setLast(st)
				f.stop()
			}
			if o.mode == "full" {
				r.sinceFirst = time.Since(first)
			}
		}
	}
}

// exited completes r, the figures of a run that ended with err (fatal with ferry's output
// if not nil), from the process state and the last status sampled.
func (f *ferryProcess) exited(err error, o pipelineOpts, r run) run {
	r.elapsed = time.Since(f.start)
	if ps := f.cmd.ProcessState; ps != nil {
		r.cpu = ps.UserTime() + ps.SystemTime()
	}
	if err != nil {
		f.logMu.Lock()
		log.Fatalf("ferry: %v\n%s", err, f.logs.String())
	}
	if o.cpuProf != "" {
		f.logMu.Lock()
		_ = os.WriteFile(strings.TrimSuffix(o.cpuProf, ".pprof")+".log", []byte(f.logs.String()), 0o644)
		f.logMu.Unlock()
	}
	f.lastMu.Lock()
	last := f.last
	f.lastMu.Unlock()
	r.records, r.bytes, r.status = last.RecordsWritten, last.BytesWritten, last
	if o.mode == "full" && r.records > 0 && r.records < uint64(*rowsFlag) {
		r.bytes = r.bytes * uint64(*rowsFlag) / r.records // last sample before exit
	}
	return r
}

// retentionBlock is the pipeline's retention block when on: the store in the run's directory.
func retentionBlock(on bool) string {
	if !on {
		return ""
	}
	return "  retention {\n    dir      = \"ret\"\n    duration = \"1h\"\n  }\n"
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func getStatus(addr string) (status, error) {
	var s status
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// cpuTime is the user + system CPU time pid has used so far (/proc/pid/stat).
func cpuTime(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // clock ticks (USER_HZ is 100 on Linux)
}

// hwmKB is the peak resident set (VmHWM) of pid and its children's current VmRSS.
func hwmKB(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return 0
}

// producerCeiling sends n messages of size bytes with a plain rocketmq-client-go producer:
// 4 goroutines, each sending batches of 256 messages to one queue (queue = goroutine, then
// round robin), like ferry's per-queue batches. It returns messages per second.
func producerCeiling(b harness.Broker, size, n int) float64 {
	topic := createTopic(b, "ferry_bench_ceiling")
	name := harness.UniqueName("ferry_bench_producer")
	p, err := rocketmq.NewProducer(producer.WithNameServer([]string{b.NameServer}), producer.WithGroupName(name),
		producer.WithInstanceName(name), producer.WithQueueSelector(producer.NewManualQueueSelector()),
		producer.WithSendMsgTimeout(10*time.Second), producer.WithRetry(0))
	must(err)
	must(p.Start())
	defer func() { _ = p.Shutdown() }()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	mqs, err := harness.WaitForRoute(ctx, b, topic, 8)
	cancel()
	must(err)
	body := []byte(strings.Repeat("x", size))
	const batch, workers = 256, 4
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; sent.Load() < int64(n); i += workers {
				mq := mqs[i%len(mqs)]
				msgs := make([]*primitive.Message, batch)
				for j := range msgs {
					m := primitive.NewMessage(topic, body)
					m.WithKeys([]string{strconv.Itoa(i*batch + j)})
					m.WithProperty("ferry_id", strconv.Itoa(i*batch+j))
					m.Queue = mq
					msgs[j] = m
				}
				if _, err := p.SendSync(context.Background(), msgs...); err != nil {
					log.Printf("ceiling send: %v", err)
					continue
				}
				sent.Add(batch)
			}
		}(w)
	}
	wg.Wait()
	return float64(sent.Load()) / time.Since(start).Seconds()
}

func machine() (string, string, string) {
	cpu := "?"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := "?"
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0])
		if len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf("%.1f GiB", kb/1024/1024)
		}
	}
	return strconv.Itoa(runtime.NumCPU()), mem, cpu
}

func printAndSave(b harness.Broker) {
	nproc, mem, cpu := machine()
	date := time.Now().Format("2006-01-02")
	fmt.Printf("\nferry bench %s — nproc %s, memory %s, CPU %s, broker %s\n\n", time.Now().Format(time.RFC3339), nproc, mem, cpu, b)
	fmt.Println("| measure | value | unit | note |")
	fmt.Println("|---|---:|---|---|")
	for _, r := range results {
		fmt.Printf("| %s | %s | %s | %s |\n", r.name, r.value, r.unit, r.note)
	}
	must(os.MkdirAll(*outDir, 0o755))
	path := filepath.Join(*outDir, "bench-"+date+".csv")
	f, err := os.Create(path)
	must(err)
	w := csv.NewWriter(f)
	_ = w.Write([]string{"date", "nproc", "memory", "cpu", "broker", "measure", "value", "unit", "note"})
	for _, r := range results {
		_ = w.Write([]string{date, nproc, mem, cpu, b.String(), r.name, r.value, r.unit, r.note})
	}
	w.Flush()
	must(f.Close())
	fmt.Printf("\nwritten %s\n", path)
}
