//go:build integration

package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/integration/netns"
	"github.com/ferry-cdc/ferry/integration/verify"
)

// The HA tests (issue 18, ADR 0014) run two or three `ferry run` of one pipeline against a
// shared checkpoint store (a real etcd, or a table in the test bed's MariaDB) and the real
// MariaDB and RocketMQ. Every ferry reaches the store through a TCP proxy of its own that the
// test controls (see haProxy), so that the store can be down for all of them. TestHACutOff
// also runs each ferry in a network namespace of its own (integration/netns), where a kernel
// packet filter cuts one process off from the store while the others still reach it.

// haProxy forwards TCP connections to target. Cut makes it a black hole: the connections
// stay open but nothing passes in either direction, and new connections are accepted and
// held (as a network partition looks to the client); Heal closes them all (the partition
// healed, the stale connections reset) and forwards again. Down refuses connections (the
// store is down).
type haProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  string // "pass", "cut", "down"
	conns map[net.Conn]struct{}
}

func newProxy(t testing.TB, target string) *haProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &haProxy{ln: ln, target: target, mode: "pass", conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	return p
}

func (p *haProxy) Addr() string { return p.ln.Addr().String() }

func (p *haProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode == "down" {
			p.mu.Unlock()
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, like a closed port
			}
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.handle(c)
	}
}

func (p *haProxy) handle(c net.Conn) {
	// While cut, a new connection is held without a peer.
	for p.current() == "cut" {
		time.Sleep(20 * time.Millisecond)
		if !p.has(c) {
			return
		}
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if _, ok := p.conns[c]; !ok {
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	go p.pipe(up, c)
	p.pipe(c, up)
}

// pipe copies src to dst while the proxy passes; while cut, what src sends is dropped.
func (p *haProxy) pipe(src, dst net.Conn) {
	defer p.drop(src)
	defer p.drop(dst)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.current() == "pass" {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *haProxy) current() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

func (p *haProxy) has(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.conns[c]
	return ok
}

func (p *haProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *haProxy) closeAll() {
	p.mu.Lock()
	cs := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// Cut starts the partition.
func (p *haProxy) Cut() { p.mu.Lock(); p.mode = "cut"; p.mu.Unlock() }

// Down closes every connection and refuses new ones.
func (p *haProxy) Down() { p.mu.Lock(); p.mode = "down"; p.mu.Unlock(); p.closeAll() }

// Heal forwards again; connections held through a cut are closed.
func (p *haProxy) Heal() { p.mu.Lock(); p.mode = "pass"; p.mu.Unlock(); p.closeAll() }

// haBed is one HA scenario: the chaos run's database, workload and topic, a shared store and
// several ferry processes of one pipeline.
type haBed struct {
	*chaosRun
	store     string // "etcd" or "mysql"
	storeAddr string
	leaseTime time.Duration
	unique    string
	metaDB    string // the mysql store's database
	procs     []*haProc

	wlStart   time.Time
	lastReady time.Duration // see waitWriting

	mu          sync.Mutex
	activations []int // pids in the order they became active
}

func (b *haBed) startWorkload() {
	b.wlStart = time.Now()
	b.chaosRun.startWorkload()
}

// haProc is one ferry process of the pipeline, with its own pipeline file and store proxy,
// and with haOpts.NetNS its own network namespace.
type haProc struct {
	*ferryProc
	idx   int
	cfg   string
	proxy *haProxy
	ns    *netns.NS // nil: runs in the host's network
}

// nsStoreAddr is where a process in a network namespace reaches the store (through the
// namespace's bridge and its proxy); its own port, so that a cut leaves the source and the
// broker alone even when the store is the source's MariaDB.
const nsStoreAddr = "127.0.0.1:42379"

// cutStore partitions p from the store: in a network namespace a kernel packet filter drops
// every packet of its store connections; else its proxy becomes a black hole.
func (p *haProc) cutStore() {
	if p.ns != nil {
		p.ns.Cut(42379)
		return
	}
	p.proxy.Cut()
}

// healStore ends cutStore.
func (p *haProc) healStore() {
	if p.ns != nil {
		p.ns.Heal()
		return
	}
	p.proxy.Heal()
}

type haOpts struct {
	Name      string
	Store     string // "etcd" or "mysql"
	StoreAddr string // "" = the test bed's etcd or MariaDB
	Procs     int
	Rows      int
	Rate      float64
	LeaseTime time.Duration
	// NetNS runs each process in a network namespace of its own (integration/netns), where
	// the store can be cut off by the kernel; the proxy when namespaces are unavailable.
	NetNS bool
}

func newHABed(t *testing.T, o haOpts) *haBed {
	t.Helper()
	env := harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ4)
	if o.StoreAddr == "" {
		switch o.Store {
		case "etcd":
			first, _, _ := strings.Cut(harness.RequireTestbed(t, harness.Etcd).EtcdEndpoints, ",")
			o.StoreAddr = first
		case "mysql":
			o.StoreAddr = env.MariaDBAddr
		}
	}
	if o.Procs == 0 {
		o.Procs = 3
	}
	if o.LeaseTime == 0 {
		o.LeaseTime = 4 * time.Second
	}
	r := newChaosRun(t, chaosOpts{Name: o.Name, Broker: env.RMQ4(), Rows: o.Rows, Keys: o.Rows + 2000, Rate: o.Rate})
	if o.Rate > 2000 {
		// One-row transactions top out near 2,200 changes/s on the test bed (a binlog
		// commit each); with 16 rows per transaction the long runs reach their 5,000
		// while a new active catches up beside them on the same 2 cores.
		r.wl.TxnSize = 16
	}
	b := &haBed{chaosRun: r, store: o.Store, storeAddr: o.StoreAddr, leaseTime: o.LeaseTime,
		unique: strings.ReplaceAll(harness.UniqueName(strings.ReplaceAll(o.Name, "-", "_")), "-", "_")}
	if o.Store == "mysql" {
		// The store's tables live in a database of their own (not the captured one), made
		// for this scenario and dropped after it.
		b.metaDB = "ferry_" + b.unique
		harness.OpenMariaDB(t, b.metaDB)
		t.Cleanup(func() { harness.DropDatabase(t, b.metaDB) })
	}
	dir := t.TempDir()
	useNS := o.NetNS
	if useNS {
		if err := netns.Available(); err != nil {
			t.Logf("NOTE: network namespaces are unavailable here (%v): the store is cut off by a proxy instead", err)
			useNS = false
		}
	}
	for i := 0; i < o.Procs; i++ {
		px := newProxy(t, o.StoreAddr)
		p := &haProc{idx: i, proxy: px, cfg: b.pipelineFile(t, dir, i, px.Addr())}
		if useNS {
			p.ns = netns.New(t, map[string]string{
				env.MariaDBAddr: env.MariaDBAddr, env.RMQ4NameServer: env.RMQ4NameServer, env.RMQ4Broker: env.RMQ4Broker,
				nsStoreAddr: px.Addr(),
			})
			p.cfg = b.pipelineFile(t, dir, i, nsStoreAddr)
		}
		b.procs = append(b.procs, p)
	}
	return b
}

// pipelineFile writes process i's pipeline file: the chaos pipeline with a shared store.
func (b *haBed) pipelineFile(t *testing.T, dir string, i int, storeAddr string) string {
	t.Helper()
	base, err := os.ReadFile(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var block string
	switch b.store {
	case "etcd":
		block = fmt.Sprintf(`checkpoint {
    dir        = %q
    interval   = "200ms"
    store      = "etcd"
    endpoints  = [%q]
    prefix     = "/ferry-test/%s/"
    lease_time = %q
  }`, filepath.Join(dir, fmt.Sprintf("local%d", i)), storeAddr, b.unique, b.leaseTime)
	case "mysql":
		block = fmt.Sprintf(`checkpoint {
    dir        = %q
    interval   = "200ms"
    store      = "mysql"
    address    = %q
    user       = "ferry"
    password   = env("CHAOS_DB_PASSWORD")
    database   = %q
    table      = "cp_%s"
    lease_time = %q
  }`, filepath.Join(dir, fmt.Sprintf("local%d", i)), storeAddr, b.metaDB, b.unique, b.leaseTime)
	}
	s := string(base)
	start := strings.Index(s, "checkpoint {")
	end := strings.Index(s[start:], "}") + start + 1
	s = s[:start] + block + s[end:]
	path := filepath.Join(dir, fmt.Sprintf("ha%d.hcl", i))
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// start starts (or restarts) process i.
func (b *haBed) start(i int) *haProc {
	p := b.procs[i]
	// info: a slow failover is explained by the new active's log (see logSince)
	extra := []string{"--log-level", "info"}
	if p.ferryProc != nil {
		extra = append(extra, "--no-precheck")
	}
	env := []string{"CHAOS_DB_PASSWORD=" + b.password}
	if p.ns == nil {
		p.ferryProc = startFerry(b.t, b.bin, p.cfg, env, extra...)
		return p
	}
	p.ferryProc = startFerryWith(b.t, func(statusAddr, name string, args ...string) *exec.Cmd {
		p.ns.Expose(statusAddr)
		return p.ns.Command(name, args...)
	}, b.bin, p.cfg, env, extra...)
	return p
}

func (b *haBed) startAll() {
	for i := range b.procs {
		b.start(i)
	}
}

// ready says whether p's /readyz is 200 (it is the active one).
func (p *haProc) ready() bool {
	if p.ferryProc == nil || p.exited() {
		return false
	}
	c := http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get("http://" + p.statusAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (p *haProc) phase() string {
	if p.ferryProc == nil || p.exited() {
		return "exited"
	}
	s, err := p.status()
	if err != nil {
		return "unreachable"
	}
	return s.Phase
}

func (p *haProc) written() uint64 {
	if p.ferryProc == nil || p.exited() {
		return 0
	}
	s, _ := p.status()
	return s.RecordsWritten
}

// waitActive waits until exactly one process is ready and returns it; it fails the test
// when two held the lease at once (overlapping).
func (b *haBed) waitActive(d time.Duration, except *haProc) *haProc {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		var ready []*haProc
		for _, p := range b.procs {
			if p != except && p.ready() {
				ready = append(ready, p)
			}
		}
		if len(ready) > 1 {
			b.overlapping(ready)
			time.Sleep(20 * time.Millisecond)
			continue // a handover between two polls: poll again
		}
		if len(ready) == 1 {
			b.noteActive(ready[0].cmd.Process.Pid)
			return ready[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	var phases []string
	for _, p := range b.procs {
		phases = append(phases, fmt.Sprintf("%d:%s", p.idx, p.phase()))
		if p.ferryProc != nil {
			b.t.Logf("process %d log tail:\n%s", p.idx, tail(p.logs.String(), 3000))
		}
	}
	b.t.Fatalf("no active process within %v (phases %s)", d, strings.Join(phases, " "))
	return nil
}

// overlapping fails the test when processes that each said they are ready held the lease
// at the same time. The processes are polled one after the other, so a handover between two
// polls shows both ready although they never were at once: each ready process's lease began
// (Since) before its fence closes (FencedUntil, as it saw it when asked); only when one's
// lease began before another's fence closed did two processes hold it at once.
func (b *haBed) overlapping(ready []*haProc) {
	b.t.Helper()
	type held struct {
		p            *haProc
		since, until time.Time
	}
	var hs []held
	for _, p := range ready {
		st, err := p.status()
		if err != nil || st.Lease == nil || st.Lease.Role != "active" {
			continue // it stepped down since it said it is ready
		}
		hs = append(hs, held{p, st.Lease.Since, st.Lease.FencedUntil})
	}
	for i := range hs {
		for j := range hs {
			if i != j && !hs[j].since.Before(hs[i].since) && hs[j].since.Before(hs[i].until) {
				b.t.Fatalf("processes %d and %d hold the lease at once: %d took it at %s, %d took it at %s, before %d's fence closes at %s",
					hs[i].p.idx, hs[j].p.idx, hs[i].p.idx, hs[i].since.Format(time.RFC3339Nano), hs[j].p.idx,
					hs[j].since.Format(time.RFC3339Nano), hs[i].p.idx, hs[i].until.Format(time.RFC3339Nano))
			}
		}
	}
}

func (b *haBed) noteActive(pid int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.activations); n == 0 || b.activations[n-1] != pid {
		b.activations = append(b.activations, pid)
	}
}

// waitWriting waits until a process other than except delivers records (it took over and
// writes), returns it and how long that took from since. b.lastReady is set to how long it
// took until that process's /readyz said it holds the lease (0 when not seen: the poll
// missed it, or it wrote before the poll saw it ready).
func (b *haBed) waitWriting(except *haProc, since time.Time, d time.Duration) (*haProc, time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	b.lastReady = 0
	for time.Now().Before(deadline) {
		for _, p := range b.procs {
			if p == except {
				continue
			}
			if b.lastReady == 0 && p.ready() {
				b.lastReady = time.Since(since)
			}
			if p.written() > 0 {
				took := time.Since(since)
				if b.lastReady == 0 {
					b.lastReady = took
				}
				b.noteActive(p.cmd.Process.Pid)
				return p, took
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.waitActive(time.Millisecond, except) // reports the phases
	return nil, 0
}

// logSince returns p's log lines stamped at or after since (ferry's JSON or console lines
// start with an RFC 3339 time; lines without one follow the previous line's decision).
func (p *haProc) logSince(since time.Time, max int) string {
	var out []string
	keep := false
	for _, line := range strings.Split(p.logs.String(), "\n") {
		if ts, ok := logTime(line); ok {
			keep = !ts.Before(since)
		}
		if keep && line != "" {
			out = append(out, line)
		}
	}
	if len(out) > max {
		out = out[:max]
	}
	return strings.Join(out, "\n")
}

// logTime finds the time a log line starts with (console: "2026-12-03T07:35:23.123Z ...",
// JSON: {"ts":"..."} or {"time":"..."}).
func logTime(line string) (time.Time, bool) {
	s := line
	if i := strings.Index(s, `"ts":"`); i >= 0 {
		s = s[i+6:]
	} else if i := strings.Index(s, `"time":"`); i >= 0 {
		s = s[i+8:]
	}
	if len(s) < 20 {
		return time.Time{}, false
	}
	end := strings.IndexAny(s, " \t\"")
	if end < 0 {
		end = len(s)
	}
	ts, err := time.Parse(time.RFC3339Nano, s[:end])
	return ts, err == nil
}

// writerPID is the pid (its low 16 bits) of the process that sent m: the RocketMQ client
// puts it in the UNIQ_KEY it generates (ip, pid as int16, ...; hex).
func writerPID(m harness.Received) (uint16, bool) {
	u := m.Properties["UNIQ_KEY"]
	if len(u) < 12 {
		return 0, false
	}
	v, err := strconv.ParseUint(u[8:12], 16, 16)
	return uint16(v), err == nil
}

// interleavings checks, per queue, that the writers follow the order in which the processes
// became active: once a later active wrote to a queue, no message of an earlier one follows.
func (b *haBed) interleavings(msgs []harness.Received) (int, []string) {
	b.mu.Lock()
	order := map[uint16]int{}
	for i, pid := range b.activations {
		order[uint16(pid)] = i
	}
	b.mu.Unlock()
	ms := append([]harness.Received(nil), msgs...)
	verify.SortMessages(ms)
	type qstate struct{ gen int }
	queues := map[string]*qstate{}
	bad := 0
	var problems []string
	for _, m := range ms {
		pid, ok := writerPID(m)
		if !ok {
			continue
		}
		gen, known := order[pid]
		if !known {
			bad++
			if len(problems) < 8 {
				problems = append(problems, fmt.Sprintf("queue %d offset %d: written by pid %d, which never was the active one", m.QueueID, m.QueueOffset, pid))
			}
			continue
		}
		q := fmt.Sprintf("%s/%s/%d", m.Properties["__topic"], m.BrokerName, m.QueueID)
		st := queues[q]
		if st == nil {
			queues[q] = &qstate{gen: gen}
			continue
		}
		if gen < st.gen {
			bad++
			if len(problems) < 8 {
				problems = append(problems, fmt.Sprintf("queue %s offset %d: pid %d (active #%d) wrote after active #%d", q, m.QueueOffset, pid, gen+1, st.gen+1))
			}
			continue
		}
		st.gen = gen
	}
	return bad, problems
}

// finishHA stops the workload, makes sure a process is active, and waits until the verifier
// passes; it checks that the writers never interleaved on a queue, and returns the messages.
func (b *haBed) finishHA(timeout time.Duration) []harness.Received {
	b.t.Helper()
	b.stopWorkload()
	b.waitActive(2*b.leaseTime+30*time.Second, nil)
	c, err := verify.NewConsumer(b.broker.NameServer, b.topic)
	if err != nil {
		b.t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tables := []verify.Table{{DB: b.dbName, Name: "t", Key: []string{"id"}, Version: "ver", Initial: b.initial}}
	s, err := verify.Until(ctx, c, b.db, b.format, tables, 3*time.Second)
	s.Written = b.wl.Committed()
	recordSummary(b.name, s)
	b.t.Logf("%s: %s", b.name, s)
	if err != nil || !s.OK() {
		logs := ""
		for _, p := range b.procs {
			if p.ferryProc != nil {
				logs += fmt.Sprintf("\n--- process %d ---\n%s", p.idx, tail(p.logs.String(), 2000))
			}
		}
		b.t.Errorf("%s: verifier failed: %v\nproblems:\n  %s%s", b.name, err, strings.Join(s.Problems, "\n  "), logs)
	}
	msgs := c.Messages()
	if n, problems := b.interleavings(msgs); n > 0 {
		b.t.Errorf("%s: %d messages interleaved between two writers on a queue:\n  %s", b.name, n, strings.Join(problems, "\n  "))
	}
	for _, p := range b.procs {
		if p.ferryProc != nil {
			_ = p.stop(30 * time.Second)
		}
	}
	return msgs
}

// durationStats returns p50 and max.
func durationStats(ds []time.Duration) (p50, maxD time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}
