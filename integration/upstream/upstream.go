// Package upstream runs the real engines ferry's formats imitate, against the test bed's
// MariaDB, and returns their messages: Debezium (embedded engine, MariaDB connector, Kafka
// Connect's JsonConverter) and Canal (its binlog parser and its MQ producers' FlatMessage
// assembly). The engines are the small Java programs beside this file (debezium/, canal/),
// built by integration/testbed/install-upstream.sh into the test bed's state dir and cached
// there; Build calls that script, so a test can run on a test bed whose install predates them.
//
// Nothing here is part of ferry: it exists so that integration tests can diff ferry's
// messages with the real thing (issue 14).
package upstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Engine names one of the real engines.
type Engine string

const (
	Debezium Engine = "debezium" // debezium-embedded + debezium-connector-mariadb 3.5.0.Final
	Canal    Engine = "canal"    // canal.parse + connector.core 1.1.7
)

// Versions of the engines (as pinned in their pom.xml).
var Versions = map[Engine]string{Debezium: "3.5.0.Final", Canal: "1.1.7"}

var mainClass = map[Engine]string{Debezium: "dev.ferry.upstream.DebeziumRun", Canal: "dev.ferry.upstream.CanalRun"}

// Message is one message an engine emitted, as its MQ producer would send it (one line of
// the Java programs' output).
type Message struct {
	Engine  string             `json:"engine"`
	Variant string             `json:"variant"` // debezium: "debezium" (schemas), "debezium_flatten", "debezium_smt"; canal: "canal"
	Topic   string             `json:"topic"`   // the Kafka topic Debezium routes it to ("" for Canal)
	Key     *string            `json:"key"`
	Value   *string            `json:"value"`   // nil for a tombstone
	Headers map[string]*string `json:"headers"` // Kafka Connect headers, each through the header converter
}

// Config says what to run. Addr, User and Tables are required; Canal needs Journal and Position.
type Config struct {
	Engine   Engine
	Addr     string // MariaDB host:port
	User     string
	Password string
	ServerID int      // the replica server id the engine uses (must be unique on the server)
	Tables   []string // db.table

	TopicPrefix string // Debezium topic.prefix (source.name, schema names); default "ferry"
	HeartbeatMS int    // Debezium heartbeat.interval.ms; 0: off

	Journal  string // Canal: binlog file to start from
	Position uint64 // Canal: position in Journal

	Dir     string // the built engine (lib/, classes/); default: Build's answer
	LogPath string // where the JVM's stderr goes; default: a file in os.TempDir()
}

func repoDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("upstream: cannot locate the source tree")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file))), nil
}

// Build makes sure the engines are built (integration/testbed/install-upstream.sh: cached in
// $FERRY_TESTBED_DIR/upstream/ by source hash, a second when nothing changed) and returns the
// directory of each.
func Build(ctx context.Context, engines ...Engine) (map[Engine]string, error) {
	root, err := repoDir()
	if err != nil {
		return nil, err
	}
	args := []string{filepath.Join(root, "integration", "testbed", "install-upstream.sh")}
	for _, e := range engines {
		args = append(args, string(e))
	}
	cmd := exec.CommandContext(ctx, "bash", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("upstream: install-upstream.sh: %v\n%s", err, stderr.String())
	}
	dirs := map[Engine]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, dir, ok := strings.Cut(line, " ")
		if ok {
			dirs[Engine(name)] = dir
		}
	}
	for _, e := range engines {
		if dirs[e] == "" {
			return nil, fmt.Errorf("upstream: install-upstream.sh named no directory for %s\n%s", e, stderr.String())
		}
	}
	return dirs, nil
}

// JavaBinary is the java the engines run on: $FERRY_UPSTREAM_JAVA_HOME/bin/java, else
// $JAVA_HOME/bin/java, else java on PATH (17 or newer).
func JavaBinary() string {
	for _, v := range []string{"FERRY_UPSTREAM_JAVA_HOME", "JAVA_HOME"} {
		if h := os.Getenv(v); h != "" {
			if p := filepath.Join(h, "bin", "java"); fileExists(p) {
				return p
			}
		}
	}
	return "java"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Run is one running engine.
type Run struct {
	cfg   Config
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error // the process's exit, valid after done

	mu     sync.Mutex
	msgs   []Message
	bad    []string // lines that did not parse
	notify chan struct{}
}

// Start runs the engine. It reads the engine's messages in the background; Stop ends it.
func Start(ctx context.Context, cfg Config) (*Run, error) {
	if cfg.Dir == "" {
		dirs, err := Build(ctx, cfg.Engine)
		if err != nil {
			return nil, err
		}
		cfg.Dir = dirs[cfg.Engine]
	}
	args, err := cfg.javaArgs()
	if err != nil {
		return nil, err
	}
	if cfg.LogPath == "" {
		f, err := os.CreateTemp("", "ferry-upstream-"+string(cfg.Engine)+"-*.log")
		if err != nil {
			return nil, err
		}
		cfg.LogPath = f.Name()
		f.Close()
	}
	logf, err := os.Create(cfg.LogPath)
	if err != nil {
		return nil, err
	}
	r := &Run{cfg: cfg, done: make(chan struct{}), notify: make(chan struct{})}
	r.cmd = exec.Command(JavaBinary(), args...)
	r.cmd.Stderr = logf
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		logf.Close()
		return nil, err
	}
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("upstream: start %s: %w", cfg.Engine, err)
	}
	go r.read(stdout, logf)
	return r, nil
}

// javaArgs are the JVM's arguments that run the engine with cfg's settings.
func (cfg Config) javaArgs() ([]string, error) {
	host, port, ok := strings.Cut(cfg.Addr, ":")
	if !ok || len(cfg.Tables) == 0 || cfg.User == "" {
		return nil, fmt.Errorf("upstream: need Addr host:port, User and Tables (got %q, %q, %v)", cfg.Addr, cfg.User, cfg.Tables)
	}
	args := []string{
		"-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		// Canal writes TIMESTAMP values in the JVM's zone, Debezium in UTC: pin the zone so
		// both read as ferry's UTC text.
		"-Duser.timezone=UTC", "-Dfile.encoding=UTF-8",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-cp", filepath.Join(cfg.Dir, "classes") + string(os.PathListSeparator) + filepath.Join(cfg.Dir, "lib", "*"),
		mainClass[cfg.Engine],
		"--host=" + host, "--port=" + port, "--user=" + cfg.User, "--password=" + cfg.Password,
		"--tables=" + strings.Join(cfg.Tables, ","),
	}
	if cfg.ServerID != 0 {
		args = append(args, "--server-id="+strconv.Itoa(cfg.ServerID))
	}
	switch cfg.Engine {
	case Debezium:
		if cfg.TopicPrefix != "" {
			args = append(args, "--topic-prefix="+cfg.TopicPrefix)
		}
		args = append(args, "--heartbeat-ms="+strconv.Itoa(cfg.HeartbeatMS))
	case Canal:
		if cfg.Journal == "" {
			return nil, errors.New("upstream: Canal needs Journal and Position")
		}
		args = append(args, "--journal="+cfg.Journal, "--position="+strconv.FormatUint(cfg.Position, 10))
	default:
		return nil, fmt.Errorf("upstream: unknown engine %q", cfg.Engine)
	}
	return args, nil
}

// read collects the engine's messages (one JSON object a line) until it exits, waking
// WaitFor on each; then it records the exit and closes the log.
func (r *Run) read(stdout io.Reader, logf *os.File) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m Message
		err := json.Unmarshal(sc.Bytes(), &m)
		r.mu.Lock()
		if err != nil {
			r.bad = append(r.bad, sc.Text())
		} else {
			r.msgs = append(r.msgs, m)
		}
		close(r.notify)
		r.notify = make(chan struct{})
		r.mu.Unlock()
	}
	r.err = r.cmd.Wait()
	logf.Close()
	close(r.done)
}

// LogPath is the file holding the engine's log (its stderr).
func (r *Run) LogPath() string { return r.cfg.LogPath }

// Messages returns a copy of what arrived so far.
func (r *Run) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// WaitFor waits until ok is true of the messages so far, the engine exits or ctx ends.
func (r *Run) WaitFor(ctx context.Context, ok func([]Message) bool) error {
	for {
		r.mu.Lock()
		msgs, ch := append([]Message(nil), r.msgs...), r.notify
		r.mu.Unlock()
		if ok(msgs) {
			return nil
		}
		select {
		case <-ch:
		case <-r.done:
			if ok(r.Messages()) {
				return nil
			}
			return fmt.Errorf("upstream %s exited (%v) before the wait ended; log %s:\n%s", r.cfg.Engine, r.err, r.cfg.LogPath, tail(r.cfg.LogPath, 30))
		case <-ctx.Done():
			return fmt.Errorf("upstream %s: %w (%d messages so far); log %s:\n%s", r.cfg.Engine, ctx.Err(), len(msgs), r.cfg.LogPath, tail(r.cfg.LogPath, 30))
		}
	}
}

// Stop closes the engine's stdin (it stops and exits), waits up to d (then kills it) and
// returns every message it emitted.
func (r *Run) Stop(d time.Duration) ([]Message, error) {
	_ = r.stdin.Close()
	var err error
	select {
	case <-r.done:
		err = r.err
	case <-time.After(d):
		_ = r.cmd.Process.Kill()
		<-r.done
		err = fmt.Errorf("upstream %s did not stop within %v", r.cfg.Engine, d)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && len(r.bad) > 0 {
		err = fmt.Errorf("upstream %s: %d output lines did not parse, first: %.300s", r.cfg.Engine, len(r.bad), r.bad[0])
	}
	return append([]Message(nil), r.msgs...), err
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
