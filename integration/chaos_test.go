//go:build integration

package integration

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// TestChaos runs ferry (the real binary) through faults while a workload writes to the source,
// and checks every scenario with the independent verifier (integration/verify): nothing lost,
// per-key order, duplicates faithful copies. Short by default; FERRY_CHAOS=full for the full
// run (make test-chaos). A summary table is printed at the end.
func TestChaos(t *testing.T) {
	harness.RequireTestbed(t, harness.MariaDB, harness.RocketMQ4, harness.RocketMQ5)
	defer printSummaries(t)
	env := harness.Env()
	t.Run("kill9", func(t *testing.T) { chaosKill9(t, env.RMQ5()) })
	t.Run("kill9-ddl", func(t *testing.T) { chaosKill9DDL(t, env.RMQ5()) })
	t.Run("plugin-kill", func(t *testing.T) { chaosPluginKill(t, env.RMQ4()) })
	t.Run("disk-full", func(t *testing.T) { chaosDiskFull(t, env.RMQ4()) })
	t.Run("private-mariadb", func(t *testing.T) { chaosPrivateMariaDB(t, env.RMQ4()) })
	t.Run("broker-restart", func(t *testing.T) { chaosBrokerRestart(t) })
}

// kill -9 of ferry at random moments while DDL changes the table every couple of seconds
// (columns added first and after id, reordered with equal types, dropped): every message's
// values must be in their columns (the pad column names its key and version, an added column
// x<N> holds its default N), nothing lost or reordered. The kills are not kept away from the
// DDL. The schema history's size at the end is reported.
func chaosKill9DDL(t *testing.T, broker harness.Broker) {
	kills := *chaosKills
	if kills == 0 {
		kills = pick(6, 24)
	}
	rows := pick(2000, 20000)
	r := newChaosRun(t, chaosOpts{Name: "kill9-ddl", Broker: broker, Rows: rows, Keys: rows + rows/4, Rate: pick(300.0, 800.0)})
	r.columns = []string{"id", "ver", "pad"} // added columns appear in later messages only
	r.check = func(row map[string]string) string {
		if !strings.HasPrefix(row["pad"], "k"+row["id"]+"-v"+row["ver"]+"-") {
			return fmt.Sprintf("pad %q for id %s ver %s", row["pad"], row["id"], row["ver"])
		}
		for col, v := range row {
			if strings.HasPrefix(col, "x") && v != col[1:] {
				return fmt.Sprintf("%s = %q, want its default %s", col, v, col[1:])
			}
		}
		return ""
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	f := r.start()
	f.waitWritten(1, 60*time.Second)
	r.startWorkload()
	stop := make(chan struct{})
	ddlDone := make(chan int)
	go func() {
		n := 0
		defer func() { ddlDone <- n }()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(1500+rng.Intn(1500)) * time.Millisecond):
			}
			var q string
			switch i % 4 {
			case 1:
				q = fmt.Sprintf("ALTER TABLE t ADD COLUMN x%d INT NOT NULL DEFAULT %d FIRST", i, i)
			case 2:
				q = "ALTER TABLE t MODIFY COLUMN pad VARCHAR(64) NOT NULL AFTER id"
			case 3:
				q = fmt.Sprintf("ALTER TABLE t DROP COLUMN x%d, ADD COLUMN x%d INT NOT NULL DEFAULT %d AFTER id", i-2, i, i)
			case 0:
				q = "ALTER TABLE t MODIFY COLUMN pad VARCHAR(64) NOT NULL AFTER ver"
			}
			if _, err := r.db.Exec(q); err != nil {
				t.Errorf("ddl %q: %v", q, err)
				return
			}
			n++
		}
	}()
	for i := 0; i < kills; i++ {
		if i > 0 {
			f = r.start()
			f.waitWritten(1, 60*time.Second)
		}
		d := time.Duration(300+rng.Intn(2500)) * time.Millisecond
		time.Sleep(d)
		st, _ := f.status()
		f.kill()
		t.Logf("kill %d after %v: %d records written by that run, workload %d changes", i+1, d, st.RecordsWritten, r.wl.Committed())
	}
	close(stop)
	ddls := <-ddlDone
	r.start()
	time.Sleep(pick[time.Duration](2, 5) * time.Second)
	r.finish(pick[time.Duration](3, 6) * time.Minute)
	var size int64
	files, _ := filepath.Glob(filepath.Join(r.checkpointDir, "chaos.state", "schema-history", "*.json"))
	for _, p := range files {
		if st, err := os.Stat(p); err == nil {
			size += st.Size()
		}
	}
	t.Logf("kill9-ddl: %d DDL statements, %d kills; schema history at the end: %d files, %d bytes", ddls, kills, len(files), size)
}

// kill -9 of ferry at random moments: the first half during the snapshot, the rest during the
// stream, with concurrent writes throughout.
func chaosKill9(t *testing.T, broker harness.Broker) {
	kills := *chaosKills
	if kills == 0 {
		kills = pick(4, 12)
	}
	rows := pick(20000, 100000)
	r := newChaosRun(t, chaosOpts{Name: "kill9", Broker: broker, Rows: rows, Keys: rows + rows/4, Rate: pick(800.0, 1500.0)})
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	f := r.start()
	f.waitWritten(1, 60*time.Second)
	r.startWorkload()
	for i := 0; i < kills; i++ {
		if i > 0 {
			f = r.start()
			f.waitWritten(1, 60*time.Second)
		}
		// The first half of the kills land in the snapshot: when this run has written a random
		// number of records below the table size (polled every 5 ms); the rest in the stream.
		var d time.Duration
		if i < kills/2 {
			target := uint64(200 + rng.Intn(rows/3))
			begin := time.Now()
			for time.Since(begin) < 10*time.Second {
				if st, err := f.status(); err == nil && st.RecordsWritten >= target {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			d = time.Since(begin)
		} else {
			d = time.Duration(1000+rng.Intn(3000)) * time.Millisecond
			time.Sleep(d)
		}
		st, _ := f.status()
		f.kill()
		t.Logf("kill %d after %v: %d records written by that run, workload %d changes", i+1, d, st.RecordsWritten, r.wl.Committed())
	}
	r.start()
	time.Sleep(pick[time.Duration](2, 5) * time.Second) // the stream catches up while writes go on
	r.finish(pick[time.Duration](3, 6) * time.Minute)
}

// The out-of-process serializer (`ferry plugin serve serializer/canal`) killed with -9.
func chaosPluginKill(t *testing.T, broker harness.Broker) {
	r := newChaosRun(t, chaosOpts{Name: "plugin-kill", Broker: broker, OutOfProcess: true, Rows: pick(5000, 20000), Keys: pick(8000, 30000), Rate: pick(500.0, 1000.0)})
	f := r.start()
	f.waitWritten(1, 60*time.Second)
	r.startWorkload()
	for i := 0; i < pick(2, 5); i++ {
		if f.exited() {
			f = r.start()
			f.waitWritten(1, 60*time.Second)
		}
		time.Sleep(time.Duration(500+rand.Intn(1500)) * time.Millisecond)
		pid := findChild(f.cmd.Process.Pid, "plugin\x00serve")
		if pid == 0 {
			t.Fatalf("no `ferry plugin serve` child of %d\n%s", f.cmd.Process.Pid, f.logs.String())
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case <-f.done:
			t.Logf("plugin kill %d: ferry exited (%v): %s", i+1, f.err, lastLine(f.logs.String(), "crash"))
		case <-time.After(20 * time.Second):
			t.Logf("plugin kill %d: ferry still running 20s later", i+1)
		}
	}
	r.start()
	time.Sleep(2 * time.Second)
	r.finish(pick[time.Duration](2, 5) * time.Minute)
}

// findChild returns the pid of a child of parent whose NUL-separated command line contains
// pattern (written with \x00 for the separators), or 0.
func findChild(parent int, pattern string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), pattern) {
			return pid
		}
	}
	return 0
}

func lastLine(logs, containing string) string {
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], containing) {
			return tail(lines[i], 400)
		}
	}
	if len(lines) > 0 {
		return tail(lines[len(lines)-1], 400)
	}
	return ""
}

// The checkpoint directory on a 256 KiB tmpfs that is filled up while ferry runs.
func chaosDiskFull(t *testing.T, broker harness.Broker) {
	mnt := mountTmpfs(t, "256k")
	cp := filepath.Join(mnt, "cp")
	r := newChaosRun(t, chaosOpts{Name: "disk-full", Broker: broker, CheckpointIn: cp, Rows: pick(5000, 20000), Keys: pick(8000, 30000), Rate: pick(500.0, 1000.0)})
	f := r.start()
	f.waitWritten(1, 60*time.Second)
	r.startWorkload()
	time.Sleep(2 * time.Second)
	fill := filepath.Join(mnt, "fill")
	fillUp(t, fill)
	time.Sleep(pick[time.Duration](4, 10) * time.Second)
	st, _ := f.status()
	if f.exited() {
		t.Logf("disk full: ferry exited (%v): %s", f.err, lastLine(f.logs.String(), "checkpoint"))
	} else {
		t.Logf("disk full: ferry still running, phase %s, last error %q", st.Phase, st.LastError)
	}
	// Space back: a running ferry must save again; then a kill -9 and a restart must find a
	// valid checkpoint (a corrupt one stops ferry at start).
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	if f.exited() {
		f = r.start()
		f.waitWritten(1, 60*time.Second)
	}
	time.Sleep(2 * time.Second)
	// Full again, and a kill -9 while it is full.
	fillUp(t, fill)
	time.Sleep(2 * time.Second)
	f.kill()
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	names, _ := os.ReadDir(cp)
	var files []string
	for _, n := range names {
		files = append(files, n.Name())
	}
	t.Logf("checkpoint dir after the kill: %v", files)
	r.start()
	time.Sleep(2 * time.Second)
	if r.ferry.exited() {
		t.Fatalf("ferry did not resume after space was freed: %v\n%s", r.ferry.err, r.ferry.logs.String())
	}
	r.finish(pick[time.Duration](2, 5) * time.Minute)
}

// fillUp writes path until the file system is full.
func fillUp(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}

// A private MariaDB (never the shared one): binlog connection cuts (KILL of the Binlog Dump
// thread as root) and server restarts.
const chaosDBDir = "/tmp/ferry-tb-chaos-db"

var chaosDBPorts = []string{"FERRY_MARIADB_PORT=31306"}

func chaosBed(t testing.TB, dir string, ports []string, args ...string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("testbed", args[0])}, args[1:]...)...)
	cmd.Env = append(os.Environ(), "FERRY_TESTBED_DIR="+dir)
	cmd.Env = append(cmd.Env, ports...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", args[0], args[1:], err, out)
	}
}

func chaosPrivateMariaDB(t *testing.T, broker harness.Broker) {
	chaosBed(t, chaosDBDir, chaosDBPorts, "up.sh", "mariadb")
	t.Cleanup(func() { chaosBed(t, chaosDBDir, chaosDBPorts, "down.sh", "--purge", "mariadb") })
	addr := "127.0.0.1:31306"
	root, err := sql.Open("mysql", "root@unix("+filepath.Join(chaosDBDir, "mariadb", "mysqld.sock")+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	opts := func(name string) chaosOpts {
		return chaosOpts{Name: name, DBAddr: addr, DBUser: "ferry", DBPassword: "ferry", Broker: broker,
			Rows: pick(5000, 20000), Keys: pick(8000, 30000), Rate: pick(500.0, 1000.0)}
	}
	t.Run("binlog-cut", func(t *testing.T) {
		r := newChaosRun(t, opts("binlog-cut"))
		f := r.start()
		f.waitWritten(1, 60*time.Second)
		r.startWorkload()
		for i := 0; i < pick(3, 8); i++ {
			time.Sleep(time.Duration(1000+rand.Intn(2000)) * time.Millisecond)
			var ids []int64
			rows, err := root.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				_ = rows.Scan(&id)
				ids = append(ids, id)
			}
			rows.Close()
			for _, id := range ids {
				if _, err := root.Exec(fmt.Sprintf("KILL %d", id)); err != nil {
					t.Logf("KILL %d: %v", id, err)
				}
			}
			t.Logf("cut %d: killed binlog dump threads %v; ferry exited: %v", i+1, ids, f.exited())
		}
		time.Sleep(2 * time.Second)
		r.finish(pick[time.Duration](2, 5) * time.Minute)
	})
	t.Run("mariadb-restart", func(t *testing.T) {
		r := newChaosRun(t, opts("mariadb-restart"))
		f := r.start()
		f.waitWritten(1, 60*time.Second)
		r.startWorkload()
		for i := 0; i < pick(1, 3); i++ {
			time.Sleep(time.Duration(1500+rand.Intn(2000)) * time.Millisecond)
			before := r.wl.Committed()
			chaosBed(t, chaosDBDir, chaosDBPorts, "down.sh", "mariadb")
			time.Sleep(2 * time.Second)
			chaosBed(t, chaosDBDir, chaosDBPorts, "up.sh", "mariadb")
			t.Logf("restart %d: workload %d→%d changes, %d statement errors; ferry exited: %v", i+1, before, r.wl.Committed(), r.wl.Errors(), f.exited())
		}
		time.Sleep(3 * time.Second)
		if f.exited() {
			t.Logf("ferry exited after the restarts (%v): %s", f.err, lastLine(f.logs.String(), "error"))
		}
		r.finish(pick[time.Duration](2, 5) * time.Minute)
	})
}

// A private RocketMQ 4.9.7 cluster (never the shared one) whose broker is restarted while ferry
// streams.
const chaosMQDir = "/tmp/ferry-tb-chaos-mq"

// privateRMQ4 starts a private RocketMQ 4.9.7 cluster (name server and broker) in dir on the
// ports FERRY_RMQ4_NAMESRV_PORT and FERRY_RMQ4_BROKER_PORT of ports, with the shared test bed's
// jars, and removes it when the test ends.
func privateRMQ4(t *testing.T, dir string, ports []string) harness.Broker {
	t.Helper()
	if _, err := os.Stat(filepath.Join(harness.Dir(), "lib")); err != nil {
		t.Skipf("no RocketMQ jars in %s (run make up)", harness.Dir())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "lib")); err != nil {
		if err := os.Symlink(filepath.Join(harness.Dir(), "lib"), filepath.Join(dir, "lib")); err != nil {
			t.Fatal(err)
		}
	}
	port := func(name string) string {
		for _, p := range ports {
			if v, ok := strings.CutPrefix(p, name+"="); ok {
				return v
			}
		}
		t.Fatalf("no %s in %v", name, ports)
		return ""
	}
	chaosBed(t, dir, ports, "up.sh", "rmq4")
	t.Cleanup(func() { chaosBed(t, dir, ports, "down.sh", "--purge", "rmq4") })
	return harness.Broker{Major: 4, Version: "4.9.7", NameServer: "127.0.0.1:" + port("FERRY_RMQ4_NAMESRV_PORT"),
		Addr: "127.0.0.1:" + port("FERRY_RMQ4_BROKER_PORT"), MQAdmin: filepath.Join(dir, "bin", "mqadmin-4")}
}

// stopBroker stops the private cluster's broker in dir with sig and waits up to d for it to
// exit; false when it still runs.
func stopBroker(t *testing.T, dir string, sig syscall.Signal, d time.Duration) bool {
	t.Helper()
	pid := brokerPID(t, dir)
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil; {
		time.Sleep(100 * time.Millisecond)
	}
	return syscall.Kill(pid, 0) != nil
}

// brokerPID is the pid of the private cluster's broker in dir.
func brokerPID(t *testing.T, dir string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "rmq4", "broker.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	if pid <= 0 {
		t.Fatalf("bad broker pid %q", raw)
	}
	return pid
}

var chaosMQPorts = []string{"FERRY_RMQ4_NAMESRV_PORT=31876", "FERRY_RMQ4_BROKER_PORT=31911"}

func chaosBrokerRestart(t *testing.T) {
	b := privateRMQ4(t, chaosMQDir, chaosMQPorts)
	r := newChaosRun(t, chaosOpts{Name: "broker-restart", Broker: b, Rows: pick(5000, 20000), Keys: pick(8000, 30000), Rate: pick(500.0, 1000.0)})
	f := r.start()
	f.waitWritten(1, 60*time.Second)
	r.startWorkload()
	for i := 0; i < pick(1, 2); i++ {
		time.Sleep(3 * time.Second)
		stopBroker(t, chaosMQDir, syscall.SIGKILL, 10*time.Second)
		st, _ := f.status()
		time.Sleep(2 * time.Second)
		chaosBed(t, chaosMQDir, chaosMQPorts, "up.sh", "rmq4")
		st2, _ := f.status()
		t.Logf("broker restart %d (SIGKILL): ferry exited %v, records %d→%d, retries/last error %q", i+1, f.exited(), st.RecordsWritten, st2.RecordsWritten, st2.LastError)
	}
	time.Sleep(3 * time.Second)
	r.finish(pick[time.Duration](3, 6) * time.Minute)
}
