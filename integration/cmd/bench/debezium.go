package main

// Debezium Server side by side (issue 19): the same wide table and the same binlog backlog
// through ferry (its `debezium` format, schemas on, decimals precise) and through Debezium
// Server (its MariaDB connector and RocketMQ sink, as distributed on Maven Central and
// installed by integration/testbed/install-debezium-server.sh), into one 8-queue topic per
// run on the same broker, the two systems alternating. Both are timed the same way: from the
// start of the process to the moment the broker holds the last message (the topic's max
// offsets summed over its queues, asked of the broker every 50 ms), CPU is the process's
// user+system time from start to exit, memory its VmHWM. The broker's plain-producer ceiling
// is measured in the same run with the messages' sizes, and every figure is also given as a
// ratio of it.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/verify"
)

var (
	debeziumFlag    = flag.Bool("debezium", debeziumInstalled(), "run Debezium Server side by side (default: when integration/testbed/install-debezium-server.sh has installed it)")
	dbzRowsFlag     = flag.Int("debezium-rows", 250000, "side by side: rows of the snapshot table (10 columns)")
	dbzBacklogFlag  = flag.Int("debezium-backlog", 150000, "side by side: binlog changes of the stream catch-up runs")
	dbzRoundsFlag   = flag.Int("debezium-rounds", 2, "side by side: runs of each system per phase, alternating")
	dbzHeapFlag     = flag.String("debezium-heap", "1g", "side by side: Debezium Server's -Xmx")
	dbzCeilingFlag  = flag.Int("debezium-ceiling", 200000, "side by side: messages of each plain-producer ceiling run")
	dbzTimeoutFlag  = flag.Duration("debezium-timeout", 3*time.Minute, "side by side: a run that adds no message for this long fails")
	dbzVersionValue = envOr("FERRY_DEBEZIUM_SERVER_VERSION", "3.6.1.Final")
)

// The Debezium Server settings of the side-by-side runs besides the servers, the files and
// the names of each run (debeziumServer.properties adds those). docs/performance.md lists them.
const (
	dbzMaxBatch = 4096
	dbzMaxQueue = 16384
	// ferry's settings of the debezium serializer in these runs.
	dbzFerrySerializer = `decimal_handling = "precise"`
)

// flagSet reports whether the command line set the flag name.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// debeziumHome is where install-debezium-server.sh installs Debezium Server.
func debeziumHome() string {
	return filepath.Join(harness.Dir(), "debezium-server-"+dbzVersionValue)
}

func debeziumInstalled() bool {
	_, err := os.Stat(filepath.Join(debeziumHome(), ".complete"))
	return err == nil
}

// debeziumJava is the java Debezium Server runs on (21 or newer).
func debeziumJava() string {
	return filepath.Join(envOr("FERRY_DEBEZIUM_JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64"), "bin", "java")
}

// sysRun is one run of either system.
type sysRun struct {
	toLast  time.Duration // process start to the last message on the broker
	toFirst time.Duration // process start to the first message on the broker
	cpu     time.Duration // user+system, process start to exit
	rssKB   int64         // VmHWM
	msgs    int64         // messages on the topic after the run
	topic   string
}

// benchDebezium is the section "debezium" (-only debezium runs it alone).
func benchDebezium(bd *bed) {
	home, java := debeziumHome(), debeziumJava()
	if !debeziumWanted(home, java) {
		return
	}
	rows, backlog, rounds := *dbzRowsFlag, *dbzBacklogFlag, *dbzRoundsFlag
	if rows <= 0 || backlog <= 0 || rounds <= 0 {
		log.Fatalf("-debezium-rows, -debezium-backlog and -debezium-rounds must be positive")
	}
	t0 := time.Now()
	dbName := "ferry_bench_dbz"
	const table = "w"
	db := mustDB(bd.env, dbName)
	defer db.Close()
	must(verify.CreateWide(db, table, rows))
	log.Printf("side by side: table %s.%s with %d rows (10 columns) in %.1fs", dbName, table, rows, time.Since(t0).Seconds())

	keep, err := os.MkdirTemp("", "ferry-bench-dbz-state")
	must(err)
	defer os.RemoveAll(keep)
	s := sideBySide{bin: bd.bin, env: bd.env, broker: bd.broker, db: dbName, rounds: rounds, keep: keep,
		dbz: debeziumServer{home: home, java: java, env: bd.env, broker: bd.broker, db: dbName, table: table,
			serverID: 7000 + rand.IntN(1000)}, // ferry's runs take 9000-9999
		ferry: pipelineOpts{table: table, format: "debezium", serBody: dbzFerrySerializer}}
	r := dbzRuns{rows: rows, rounds: rounds}

	// 1. Snapshot: ferry, Debezium, ferry, Debezium, ... Debezium's last snapshot leaves its
	// offsets (the binlog position of that snapshot) and schema history, from which its
	// stream runs start.
	r.fs, r.ds, r.ceilSnapRounds = s.snapshots(rows)
	r.snapSample = [2]msgSample{sampleTopic(s.broker, r.fs[0].topic), sampleTopic(s.broker, r.ds[0].topic)}

	// 2. The backlog, written while neither runs; ferry reads it from start_timestamp (a
	// whole second at or before its first change, after every snapshot), Debezium from the
	// offsets of its last snapshot (nothing changed the table in between).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	startTS := time.Now().UTC().Format("2006-01-02 15:04:05")
	tb := time.Now()
	n, err := verify.UpdateWide(db, table, rows, backlog)
	must(err)
	log.Printf("side by side: backlog of %d changes (UPDATEs of 1,000 rows per transaction) in %.1fs", n, time.Since(tb).Seconds())
	r.changes = n

	// 3. Stream catch-up, alternating again.
	r.fi, r.di, r.ceilStreamRounds = s.streams(startTS, n)
	r.streamSample = [2]msgSample{sampleTopic(s.broker, r.fi[0].topic), sampleTopic(s.broker, r.di[0].topic)}

	// 4. The broker's ceiling with bodies of the average size of the two systems' messages.
	r.sizeSnap = int((r.snapSample[0].body + r.snapSample[1].body) / 2)
	r.sizeStream = int((r.streamSample[0].body + r.streamSample[1].body) / 2)
	r.ceilSnap = producerCeiling(s.broker, r.sizeSnap, *dbzCeilingFlag)
	r.ceilStream = producerCeiling(s.broker, r.sizeStream, *dbzCeilingFlag)

	// 5. The table.
	g := r.figures()
	r.addRows(g)

	_, _ = db.Exec("DROP DATABASE IF EXISTS " + dbName)
	log.Printf("side by side: done in %.0fs", time.Since(t0).Seconds())
	r.printSummary(g)
}

// debeziumWanted reports whether the side-by-side runs are to be made: not when -debezium=false,
// nor when Debezium Server (in home) is not installed and nothing asked for it. Asked for and
// not installed, or without Java at java, the command fails.
func debeziumWanted(home, java string) bool {
	asked := flagSet("debezium") || slices.Contains(strings.Split(*only, ","), "debezium")
	switch {
	case flagSet("debezium") && !*debeziumFlag:
		log.Printf("Debezium Server side by side: skipped (-debezium=false)")
		return false
	case !debeziumInstalled() && !asked:
		log.Printf("Debezium Server side by side: skipped (Debezium Server is not installed in %s: integration/testbed/install-debezium-server.sh installs it, make bench does)", home)
		return false
	}
	if !debeziumInstalled() {
		log.Fatalf("Debezium Server side by side: Debezium Server %s is not installed in %s: run integration/testbed/install-debezium-server.sh (make bench does), or pass -debezium=false", dbzVersionValue, home)
	}
	if _, err := os.Stat(java); err != nil {
		log.Fatalf("Debezium Server side by side: no Java 21+ at %s (set FERRY_DEBEZIUM_JAVA_HOME): %v", java, err)
	}
	return true
}

// sideBySide runs ferry and Debezium Server on the same table, alternating.
type sideBySide struct {
	bin    string
	env    harness.Environment
	broker harness.Broker
	db     string
	dbz    debeziumServer
	ferry  pipelineOpts // the ferry pipeline's options besides its mode
	rounds int          // runs of each system per phase
	keep   string       // where Debezium's snapshots leave their offsets and schema history
}

// snapshots runs the snapshot of the table's rows rows, ferry then Debezium Server, rounds
// times, and returns ferry's runs, Debezium's, and the broker's ceiling measured right after
// each of ferry's runs (adjacentCeiling).
func (s sideBySide) snapshots(rows int) (fs, ds []sysRun, ceils []float64) {
	size := 0
	for i := 0; i < s.rounds; i++ {
		o := s.ferry
		o.mode = "full"
		fs = append(fs, ferrySide(s.bin, s.env, s.broker, s.db, o, int64(rows), "ferry_bench_dbz_fsnap"))
		logRun("snapshot", "ferry", fs[i], rows)
		ceils = append(ceils, adjacentCeiling(s.broker, fs[i], &size, rows, "snapshot"))
		ds = append(ds, s.dbz.run("ferry_bench_dbz_dsnap", "initial_only", "", s.keep, int64(rows)))
		logRun("snapshot", "Debezium Server", ds[i], rows)
	}
	return fs, ds, ceils
}

// adjacentCeiling is the broker's plain-producer ceiling measured right after ferry's run r,
// with as many messages as the run sent and bodies of its size (*size, sampled from the
// first run's topic): the broker's own rate varies by 1.5x over a session here (its store
// grows, page cache is flushed), so a ceiling from another moment says little of the run.
func adjacentCeiling(b harness.Broker, r sysRun, size *int, n int, phase string) float64 {
	if *size == 0 {
		*size = int(sampleTopic(b, r.topic).body)
	}
	c := producerCeiling(b, *size, n)
	log.Printf("side by side, %s: broker ceiling right after ferry's run, %d messages of %d bytes: %.0f msgs/s (ferry %.0f/s, %.2fx)",
		phase, n, *size, c, float64(n)/r.toLast.Seconds(), float64(n)/r.toLast.Seconds()/c)
	return c
}

// streams runs the catch-up of a backlog of n changes, ferry (from startTS) then Debezium
// Server (from its last snapshot's offsets), rounds times, and returns ferry's runs,
// Debezium's, and the ceiling right after each of ferry's runs.
func (s sideBySide) streams(startTS string, n int) (fi, di []sysRun, ceils []float64) {
	size := 0
	for i := 0; i < s.rounds; i++ {
		o := s.ferry
		o.mode, o.startTS, o.until = "incremental", startTS, uint64(n)
		fi = append(fi, ferrySide(s.bin, s.env, s.broker, s.db, o, int64(n), "ferry_bench_dbz_fstream"))
		logRun("stream", "ferry", fi[i], n)
		ceils = append(ceils, adjacentCeiling(s.broker, fi[i], &size, n, "stream"))
		di = append(di, s.dbz.run("ferry_bench_dbz_dstream", "no_data", s.keep, "", int64(n)))
		logRun("stream", "Debezium Server", di[i], n)
	}
	return fi, di, ceils
}

// dbzRuns is what the side-by-side runs measured.
type dbzRuns struct {
	rows, changes, rounds    int
	fs, ds                   []sysRun // snapshot runs: ferry's, Debezium's
	fi, di                   []sysRun // stream runs: ferry's, Debezium's
	snapSample, streamSample [2]msgSample
	sizeSnap, sizeStream     int     // the ceiling runs' body sizes
	ceilSnap, ceilStream     float64 // the broker's ceiling at those sizes, msgs/s
	// the ceiling right after each of ferry's runs, with its message count and size
	ceilSnapRounds, ceilStreamRounds []float64
}

// adjacentRatio is the median over ferry's runs of its rate (n per run) over the ceiling
// measured right after the run.
func adjacentRatio(runs []sysRun, ceils []float64, n int) float64 {
	x := make([]float64, len(runs))
	for i, r := range runs {
		x[i] = float64(n) / r.toLast.Seconds() / ceils[i]
	}
	return median(x)
}

// dbzFigures are the medians of the side-by-side runs (f: ferry, d: Debezium Server).
type dbzFigures struct {
	of                                           string // "median of <rounds>"
	fSnap, dSnap, fStr, dStr                     float64
	fSnapCPU, dSnapCPU, fStrCPU, dStrCPU         float64
	fSnapRSS, dSnapRSS, fStrRSS, dStrRSS         float64
	fSnapFirst, fStrFirst, dSnapFirst, dStrFirst float64
}

// figures computes the medians of r's runs.
func (r dbzRuns) figures() dbzFigures {
	med := func(v []sysRun, f func(sysRun) float64) float64 {
		x := make([]float64, len(v))
		for i, r := range v {
			x[i] = f(r)
		}
		return median(x)
	}
	rate := func(n int) func(sysRun) float64 {
		return func(r sysRun) float64 { return float64(n) / r.toLast.Seconds() }
	}
	cpuPer := func(n int) func(sysRun) float64 {
		return func(r sysRun) float64 { return r.cpu.Seconds() / float64(n) * 1e6 }
	}
	rss := func(r sysRun) float64 { return float64(r.rssKB) / 1024 }
	first := func(r sysRun) float64 { return r.toFirst.Seconds() }
	rows, n := r.rows, r.changes
	return dbzFigures{
		of:    fmt.Sprintf("median of %d", r.rounds),
		fSnap: med(r.fs, rate(rows)), dSnap: med(r.ds, rate(rows)),
		fStr: med(r.fi, rate(n)), dStr: med(r.di, rate(n)),
		fSnapCPU: med(r.fs, cpuPer(rows)), dSnapCPU: med(r.ds, cpuPer(rows)),
		fStrCPU: med(r.fi, cpuPer(n)), dStrCPU: med(r.di, cpuPer(n)),
		fSnapRSS: med(r.fs, rss), dSnapRSS: med(r.ds, rss),
		fStrRSS: med(r.fi, rss), dStrRSS: med(r.di, rss),
		fSnapFirst: med(r.fs, first), fStrFirst: med(r.fi, first),
		dSnapFirst: med(r.ds, first), dStrFirst: med(r.di, first),
	}
}

// addRows adds the side-by-side figures g to the CSV.
func (r dbzRuns) addRows(g dbzFigures) {
	const F, D = "ferry", "Debezium Server"
	of := g.of
	snapNote := fmt.Sprintf("%d rows, 10 columns, process start to last message on the broker, %s", r.rows, of)
	strNote := fmt.Sprintf("backlog of %d changes, process start to last message on the broker, %s", r.changes, of)
	add("side by side: snapshot rows/s, "+F, g.fSnap, "rows/s", snapNote)
	add("side by side: snapshot rows/s, "+D, g.dSnap, "rows/s", snapNote)
	add("side by side: snapshot rows/s, ferry / Debezium", g.fSnap/g.dSnap, "x", "")
	add("side by side: stream catch-up changes/s, "+F, g.fStr, "changes/s", strNote)
	add("side by side: stream catch-up changes/s, "+D, g.dStr, "changes/s", strNote)
	add("side by side: stream catch-up changes/s, ferry / Debezium", g.fStr/g.dStr, "x", "")
	add("side by side: snapshot, process start to first message, "+F, g.fSnapFirst, "s", of)
	add("side by side: snapshot, process start to first message, "+D, g.dSnapFirst, "s", of)
	add("side by side: stream, process start to first message, "+F, g.fStrFirst, "s", of)
	add("side by side: stream, process start to first message, "+D, g.dStrFirst, "s", of)
	add("side by side: CPU-s per 1M rows, snapshot, "+F, g.fSnapCPU, "CPU-s", "user+system, process start to exit, "+of)
	add("side by side: CPU-s per 1M rows, snapshot, "+D, g.dSnapCPU, "CPU-s", "user+system, process start to exit, "+of)
	add("side by side: CPU per row, snapshot, Debezium / ferry", g.dSnapCPU/g.fSnapCPU, "x", "ferry uses this many times less CPU")
	add("side by side: CPU-s per 1M changes, stream, "+F, g.fStrCPU, "CPU-s", "user+system, process start to exit, "+of)
	add("side by side: CPU-s per 1M changes, stream, "+D, g.dStrCPU, "CPU-s", "user+system, process start to exit, "+of)
	add("side by side: CPU per change, stream, Debezium / ferry", g.dStrCPU/g.fStrCPU, "x", "ferry uses this many times less CPU")
	add("side by side: peak RSS, snapshot, "+F, g.fSnapRSS, "MiB", "VmHWM, "+of)
	add("side by side: peak RSS, snapshot, "+D, g.dSnapRSS, "MiB", "VmHWM, "+of+", -Xmx"+*dbzHeapFlag)
	add("side by side: peak RSS, snapshot, ferry / Debezium", g.fSnapRSS/g.dSnapRSS, "x", "")
	add("side by side: peak RSS, stream, "+F, g.fStrRSS, "MiB", "VmHWM, "+of)
	add("side by side: peak RSS, stream, "+D, g.dStrRSS, "MiB", "VmHWM, "+of+", -Xmx"+*dbzHeapFlag)
	add("side by side: peak RSS, stream, ferry / Debezium", g.fStrRSS/g.dStrRSS, "x", "")
	for i, sys := range []string{F, D} {
		for _, ph := range []struct {
			name string
			s    msgSample
		}{{"snapshot", r.snapSample[i]}, {"stream", r.streamSample[i]}} {
			add("side by side: message body, "+ph.name+", "+sys, ph.s.body, "bytes",
				fmt.Sprintf("average of the first %d messages; %.0f%% compressed by the client, %.0f bytes stored per message", ph.s.n, 100*ph.s.compressed, ph.s.store))
		}
	}
	ceilNote := "rocketmq-client-go, 4 goroutines x per-queue batches of 256, %d-byte bodies (the two systems' average), 8 queues"
	add("side by side: broker ceiling, snapshot message size", r.ceilSnap, "msgs/s", fmt.Sprintf(ceilNote, r.sizeSnap))
	add("side by side: broker ceiling, stream message size", r.ceilStream, "msgs/s", fmt.Sprintf(ceilNote, r.sizeStream))
	add("side by side: snapshot / broker ceiling, "+F, g.fSnap/r.ceilSnap, "x", "")
	add("side by side: snapshot / broker ceiling, "+D, g.dSnap/r.ceilSnap, "x", "")
	add("side by side: stream / broker ceiling, "+F, g.fStr/r.ceilStream, "x", "")
	add("side by side: stream / broker ceiling, "+D, g.dStr/r.ceilStream, "x", "")
	adj := "median over ferry's runs of its rate over the ceiling measured right after it, with as many messages of its size"
	add("side by side: snapshot / adjacent broker ceiling, "+F, adjacentRatio(r.fs, r.ceilSnapRounds, r.rows), "x", adj)
	add("side by side: stream / adjacent broker ceiling, "+F, adjacentRatio(r.fi, r.ceilStreamRounds, r.changes), "x", adj)
}

// printSummary prints the side-by-side table of figures g, as issue 19 puts it.
func (r dbzRuns) printSummary(g dbzFigures) {
	fmt.Printf("\nDebezium Server %s side by side (%d rows, %d changes, %s):\n\n", dbzVersionValue, r.rows, r.changes, g.of)
	fmt.Println("| measure | ferry | Debezium Server | ratio |")
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| snapshot rows/s | %.0f | %.0f | %.1fx |\n", g.fSnap, g.dSnap, g.fSnap/g.dSnap)
	fmt.Printf("| stream catch-up changes/s (start to last message) | %.0f | %.0f | %.1fx |\n", g.fStr, g.dStr, g.fStr/g.dStr)
	fmt.Printf("| CPU-s per 1M rows, snapshot | %.1f | %.1f | %.1fx less |\n", g.fSnapCPU, g.dSnapCPU, g.dSnapCPU/g.fSnapCPU)
	fmt.Printf("| CPU-s per 1M changes, stream | %.1f | %.1f | %.1fx less |\n", g.fStrCPU, g.dStrCPU, g.dStrCPU/g.fStrCPU)
	fmt.Printf("| process start to first message, snapshot / stream (s) | %.1f / %.1f | %.1f / %.1f | |\n", g.fSnapFirst, g.fStrFirst, g.dSnapFirst, g.dStrFirst)
	fmt.Printf("| peak RSS, snapshot / stream (MiB) | %.0f / %.0f | %.0f / %.0f | %.2f / %.2f |\n", g.fSnapRSS, g.fStrRSS, g.dSnapRSS, g.dStrRSS, g.fSnapRSS/g.dSnapRSS, g.fStrRSS/g.dStrRSS)
	fmt.Printf("| / broker's plain-producer ceiling, snapshot / stream | %.2f / %.2f | %.2f / %.2f | |\n", g.fSnap/r.ceilSnap, g.fStr/r.ceilStream, g.dSnap/r.ceilSnap, g.dStr/r.ceilStream)
	fmt.Printf("| / the ceiling measured right after each ferry run, snapshot / stream | %.2f / %.2f | | |\n\n",
		adjacentRatio(r.fs, r.ceilSnapRounds, r.rows), adjacentRatio(r.fi, r.ceilStreamRounds, r.changes))
}

func logRun(phase, sys string, r sysRun, n int) {
	log.Printf("side by side, %s, %s: %.0f/s (%.1fs to the first message, %.1fs to the last of %d), %.1f CPU-s per 1M, peak RSS %.0f MiB",
		phase, sys, float64(n)/r.toLast.Seconds(), r.toFirst.Seconds(), r.toLast.Seconds(), r.msgs, r.cpu.Seconds()/float64(n)*1e6, float64(r.rssKB)/1024)
}

// ferrySide runs ferry through runFerry into a new topic and times it by the broker like
// Debezium: process start to the last of want messages on the topic.
func ferrySide(bin string, env harness.Environment, b harness.Broker, db string, o pipelineOpts, want int64, prefix string) sysRun {
	topic := createTopic(b, prefix)
	w := watchTopic(b, topic, want)
	defer w.stop()
	start := time.Now()
	r := runFerry(bin, env, b, topic, db, o)
	at, ok := w.wait(30 * time.Second)
	if !ok {
		log.Fatalf("side by side: ferry exited with %d of %d messages on %s", w.total(), want, topic)
	}
	return sysRun{toLast: at.Sub(start), toFirst: w.firstAt().Sub(start), cpu: r.cpu, rssKB: r.rssKB, msgs: w.total(), topic: topic}
}

// debeziumServer runs Debezium Server as a child process, one run at a time.
type debeziumServer struct {
	home, java string
	env        harness.Environment
	broker     harness.Broker
	db, table  string
	serverID   int
}

// run starts Debezium Server with snapshot.mode mode into a new topic, from the offsets and
// schema history in from (none: "") and waits until the topic holds want messages, then
// stops it (SIGTERM) and, when keep is set, copies its offsets and schema history there.
func (d debeziumServer) run(prefix, mode, from, keep string, want int64) sysRun {
	topic := createTopic(d.broker, prefix)
	dir, err := os.MkdirTemp("", "ferry-bench-dbz")
	must(err)
	defer os.RemoveAll(dir)
	d.configure(dir, topic, mode, from)
	logPath := filepath.Join(dir, "debezium-server.log")
	logf, err := os.Create(logPath)
	must(err)
	defer logf.Close()
	cmd := d.command(dir, logf)
	w := watchTopic(d.broker, topic, want)
	defer w.stop()
	p := &dbzProcess{cmd: cmd, logPath: logPath, w: w, topic: topic, want: want, done: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		log.Fatalf("side by side: start Debezium Server (%s): %v", d.java, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	r := p.waitMessages()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.fail("did not stop within 60s of SIGTERM")
	}
	if ps := cmd.ProcessState; ps != nil {
		r.cpu = ps.UserTime() + ps.SystemTime()
	}
	r.msgs = w.total()
	// Its log stays beside the CSV, for whoever repeats the run.
	if logDir := filepath.Join(*outDir, "debezium-server-logs"); os.MkdirAll(logDir, 0o755) == nil {
		_ = copyFile(logPath, filepath.Join(logDir, topic+".log"))
		_ = copyFile(filepath.Join(dir, "config", "application.properties"), filepath.Join(logDir, topic+".properties"))
	}
	if keep != "" {
		for _, f := range []string{"offsets.dat", "schema-history.dat"} {
			if err := copyFile(filepath.Join(dir, f), filepath.Join(keep, f)); err != nil {
				log.Fatalf("side by side: Debezium Server left no %s after its snapshot: %v\n%s", f, err, tailFile(logPath, 40))
			}
		}
	}
	return r
}

// configure prepares the working directory dir of a run into topic with snapshot.mode
// mode: the offsets and schema history in from (none: ""), config/application.properties.
func (d debeziumServer) configure(dir, topic, mode, from string) {
	must(os.MkdirAll(filepath.Join(dir, "config"), 0o755))
	for _, f := range []string{"offsets.dat", "schema-history.dat"} {
		if from != "" {
			must(copyFile(filepath.Join(from, f), filepath.Join(dir, f)))
		}
	}
	props := d.properties(dir, topic, mode, freePort())
	must(os.WriteFile(filepath.Join(dir, "config", "application.properties"), []byte(props), 0o644))
}

// command is Debezium Server's command in working directory dir, its output to logf.
func (d debeziumServer) command(dir string, logf *os.File) *exec.Cmd {
	runner, err := filepath.Glob(filepath.Join(d.home, "debezium-server-dist-*-runner.jar"))
	if err != nil || len(runner) != 1 {
		log.Fatalf("side by side: no single debezium-server-dist-*-runner.jar in %s (%v): reinstall with integration/testbed/install-debezium-server.sh", d.home, runner)
	}
	// The class path and main class of the distribution's run.sh; the working directory
	// holds config/application.properties (Quarkus reads it from there).
	cp := strings.Join([]string{runner[0], filepath.Join(d.home, "config", "lib"), filepath.Join(d.home, "lib", "*")}, ":")
	cmd := exec.Command(d.java, "-Xmx"+*dbzHeapFlag,
		// Java 24+: JBoss threads (Quarkus) resets thread locals by reflection.
		"--add-opens", "java.base/java.lang=ALL-UNNAMED",
		"-cp", cp, "io.debezium.server.Main")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	return cmd
}

// dbzProcess is a running Debezium Server writing into topic, watched by w.
type dbzProcess struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when it has exited
	start   time.Time
	logPath string
	w       *topicWatch
	topic   string
	want    int64
}

// fail kills Debezium Server and ends the bench with the message and its log's last lines.
func (p *dbzProcess) fail(format string, a ...any) {
	_ = p.cmd.Process.Kill()
	<-p.done
	log.Fatalf("side by side: Debezium Server: "+format+"\n--- %s (last lines) ---\n%s", append(a, p.logPath, tailFile(p.logPath, 40))...)
}

// waitMessages samples Debezium Server's peak RSS every 50 ms until the topic holds the
// messages wanted, and returns the run's times, peak RSS and topic. It fails if the process
// exits first, or if no message comes for -debezium-timeout.
func (p *dbzProcess) waitMessages() sysRun {
	var r sysRun
	r.topic = p.topic
	lastCount, lastMove := int64(-1), time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			p.fail("exited (%v) with %d of %d messages on %s", p.cmd.ProcessState, p.w.total(), p.want, p.topic)
		case <-tick.C:
			if kb := hwmKB(p.cmd.Process.Pid); kb > r.rssKB {
				r.rssKB = kb
			}
			if at, ok := p.w.reached(); ok {
				r.toLast, r.toFirst = at.Sub(p.start), p.w.firstAt().Sub(p.start)
				return r
			}
			if c := p.w.total(); c != lastCount {
				lastCount, lastMove = c, time.Now()
			} else if time.Since(lastMove) > *dbzTimeoutFlag {
				p.fail("no new message for %v: %d of %d on %s", *dbzTimeoutFlag, c, p.want, p.topic)
			}
		}
	}
}

// properties is the application.properties of one run.
func (d debeziumServer) properties(dir, topic, mode string, httpPort int) string {
	p := [][2]string{
		{"debezium.sink.type", "rocketmq"},
		{"debezium.sink.rocketmq.producer.name.srv.addr", d.broker.NameServer},
		{"debezium.sink.rocketmq.producer.group", harness.UniqueName("ferry_bench_dbz")},
		{"debezium.source.connector.class", "io.debezium.connector.mariadb.MariaDbConnector"},
		{"debezium.source.database.hostname", hostOf(d.env.MariaDBAddr)},
		{"debezium.source.database.port", portOf(d.env.MariaDBAddr)},
		{"debezium.source.database.user", d.env.MariaDBUser},
		{"debezium.source.database.password", d.env.MariaDBPassword},
		{"debezium.source.database.server.id", strconv.Itoa(d.serverID)},
		{"debezium.source.database.ssl.mode", "disable"},
		{"debezium.source.topic.prefix", "ferry"}, // ferry's server_name: the same schema names
		{"debezium.source.database.include.list", d.db},
		{"debezium.source.table.include.list", d.db + `\.` + d.table},
		{"debezium.source.snapshot.mode", mode},
		{"debezium.source.snapshot.locking.mode", "none"},
		{"debezium.source.include.schema.changes", "false"},
		{"debezium.source.decimal.handling.mode", "precise"},
		{"debezium.source.max.batch.size", strconv.Itoa(dbzMaxBatch)},
		{"debezium.source.max.queue.size", strconv.Itoa(dbzMaxQueue)},
		{"debezium.source.offset.storage.file.filename", filepath.Join(dir, "offsets.dat")},
		{"debezium.source.offset.flush.interval.ms", "0"},
		{"debezium.source.schema.history.internal", "io.debezium.storage.file.history.FileSchemaHistory"},
		{"debezium.source.schema.history.internal.file.filename", filepath.Join(dir, "schema-history.dat")},
		{"debezium.source.schema.history.internal.store.only.captured.tables.ddl", "true"},
		{"debezium.format.key", "json"},
		{"debezium.format.value", "json"},
		{"debezium.format.key.schemas.enable", "true"},
		{"debezium.format.value.schemas.enable", "true"},
		// RocketMQ topic names have no dots: every destination (ferry.<db>.<table>) goes to
		// the run's topic.
		{"debezium.transforms", "route"},
		{"debezium.transforms.route.type", "org.apache.kafka.connect.transforms.RegexRouter"},
		{"debezium.transforms.route.regex", ".*"},
		{"debezium.transforms.route.replacement", topic},
		{"quarkus.http.host", "127.0.0.1"},
		{"quarkus.http.port", strconv.Itoa(httpPort)},
		{"quarkus.log.level", "INFO"},
	}
	var sb strings.Builder
	for _, kv := range p {
		// java.util.Properties: a backslash escapes.
		fmt.Fprintf(&sb, "%s=%s\n", kv[0], strings.ReplaceAll(kv[1], `\`, `\\`))
	}
	return sb.String()
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	must(err)
	return h
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	must(err)
	return p
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func tailFile(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// msgSample describes the first messages of a topic: their mean body size (as sent, before
// any compression), the share the producer's client compressed, and the mean size the broker
// stored per message.
type msgSample struct {
	n           int
	body, store float64
	compressed  float64
}

// sampleTopic reads the first 2,000 messages of topic (a consumer group of its own, from the
// first offset).
func sampleTopic(b harness.Broker, topic string) msgSample {
	const want = 2000
	// The client logs errors of its own shutdown (offsets it no longer fetches).
	rlog.SetLogLevel("fatal")
	defer rlog.SetLogLevel(envOr("FERRY_RMQ_LOG_LEVEL", "error"))
	group := harness.UniqueName("ferry_bench_sample")
	c, err := rocketmq.NewPushConsumer(consumer.WithNameServer([]string{b.NameServer}),
		consumer.WithGroupName(group), consumer.WithInstance(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	must(err)
	var (
		mu   sync.Mutex
		s    msgSample
		seen = map[string]bool{}
		done = make(chan struct{})
		once sync.Once
	)
	must(c.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if seen[m.MsgId] || s.n >= want {
				continue
			}
			seen[m.MsgId] = true
			s.n++
			s.body += float64(len(m.Body)) // the client has uncompressed it
			s.store += float64(m.StoreSize)
			if m.SysFlag&primitive.FlagCompressed != 0 {
				s.compressed++
			}
		}
		if s.n >= want {
			once.Do(func() { close(done) })
		}
		return consumer.ConsumeSuccess, nil
	}))
	must(c.Start())
	select {
	case <-done:
	case <-time.After(60 * time.Second):
	}
	harness.ShutdownPushConsumer(c, topic)
	mu.Lock()
	defer mu.Unlock()
	if s.n == 0 {
		log.Fatalf("side by side: no message read back from %s", topic)
	}
	s.body, s.store, s.compressed = s.body/float64(s.n), s.store/float64(s.n), s.compressed/float64(s.n)
	return s
}

// topicWatch asks the broker for the max offset of each of a topic's 8 queues every 50 ms
// and notes when their sum first reached want: the time the broker held the last message.
type topicWatch struct {
	want   int64
	sum    atomic.Int64
	mu     sync.Mutex
	first  time.Time // the first poll that saw a message
	at     time.Time // the first poll that saw want messages
	quit   chan struct{}
	closed sync.Once
	wg     sync.WaitGroup
}

func watchTopic(b harness.Broker, topic string, want int64) *topicWatch {
	w := &topicWatch{want: want, quit: make(chan struct{})}
	conn, err := dialBroker(b.Addr)
	if err != nil {
		log.Fatalf("side by side: broker %s: %v", b.Addr, err)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer conn.close()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			var s int64
			for q := 0; q < 8; q++ {
				off, err := conn.maxOffset(topic, q)
				if err != nil {
					log.Fatalf("side by side: max offset of %s queue %d on %s: %v", topic, q, b.Addr, err)
				}
				s += off
			}
			now := time.Now()
			w.sum.Store(s)
			w.mu.Lock()
			if s > 0 && w.first.IsZero() {
				w.first = now
			}
			if s >= w.want && w.at.IsZero() {
				w.at = now
			}
			w.mu.Unlock()
			select {
			case <-w.quit:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *topicWatch) total() int64 { return w.sum.Load() }

func (w *topicWatch) firstAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first
}

func (w *topicWatch) reached() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.at, !w.at.IsZero()
}

// wait waits up to d for want messages.
func (w *topicWatch) wait(d time.Duration) (time.Time, bool) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if at, ok := w.reached(); ok {
			return at, true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return w.reached()
}

// stop ends the polling after one more poll (so total is the count after the run).
func (w *topicWatch) stop() {
	w.closed.Do(func() {
		time.Sleep(100 * time.Millisecond)
		close(w.quit)
		w.wg.Wait()
	})
}

// brokerConn speaks RocketMQ's remoting protocol (JSON headers) to a broker, for one
// request: GET_MAX_OFFSET (code 30), the offset after a queue's last message. (The Go
// client has no public call for it, and mqadmin starts a JVM per call.)
type brokerConn struct {
	c      net.Conn
	r      *bufio.Reader
	opaque int32
}

func dialBroker(addr string) (*brokerConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &brokerConn{c: c, r: bufio.NewReader(c)}, nil
}

func (b *brokerConn) close() { _ = b.c.Close() }

func (b *brokerConn) maxOffset(topic string, queue int) (int64, error) {
	b.opaque++
	hdr, err := json.Marshal(map[string]any{
		"code": 30, "language": "GO", "version": 431, "opaque": b.opaque, "flag": 0,
		"extFields": map[string]string{"topic": topic, "queueId": strconv.Itoa(queue)},
	})
	if err != nil {
		return 0, err
	}
	frame := make([]byte, 8+len(hdr))
	binary.BigEndian.PutUint32(frame[0:], uint32(4+len(hdr)))
	binary.BigEndian.PutUint32(frame[4:], uint32(len(hdr))) // serialize type 0: JSON
	copy(frame[8:], hdr)
	_ = b.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := b.c.Write(frame); err != nil {
		return 0, err
	}
	for {
		var head [8]byte
		if _, err := io.ReadFull(b.r, head[:]); err != nil {
			return 0, err
		}
		total := binary.BigEndian.Uint32(head[0:])
		hlen := binary.BigEndian.Uint32(head[4:]) & 0xFFFFFF
		if total < 4+hlen || total > 16<<20 {
			return 0, fmt.Errorf("bad remoting frame (length %d, header %d)", total, hlen)
		}
		body := make([]byte, total-4)
		if _, err := io.ReadFull(b.r, body); err != nil {
			return 0, err
		}
		var resp struct {
			Code      int               `json:"code"`
			Opaque    int32             `json:"opaque"`
			Remark    string            `json:"remark"`
			ExtFields map[string]string `json:"extFields"`
		}
		if err := json.Unmarshal(body[:hlen], &resp); err != nil {
			return 0, fmt.Errorf("remoting header: %w", err)
		}
		if resp.Opaque != b.opaque {
			continue // not the answer to this request
		}
		if resp.Code != 0 {
			return 0, fmt.Errorf("GET_MAX_OFFSET: code %d: %s", resp.Code, resp.Remark)
		}
		return strconv.ParseInt(resp.ExtFields["offset"], 10, 64)
	}
}
