package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/logging"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/protocol"
)

// Ref names a plugin as a pipeline file does.
type Ref struct {
	Kind sdk.Kind
	Name string
	// Path, when set, is the executable to run (plugin_path in HCL).
	Path string
	// OutOfProcess runs a built-in in a separate process.
	OutOfProcess bool
}

func (r Ref) String() string { return fmt.Sprintf("%s %q", r.Kind, r.Name) }

// Instance is a loaded plugin.
type Instance struct {
	Ref Ref
	// Plugin implements the sdk interface of Ref.Kind.
	Plugin sdk.Plugin
	// Info is what the plugin says about itself.
	Info sdk.Info
	// Location is "built-in", "built-in, out of process" or the executable's path.
	Location string
	// Logger is the plugin's logger, to hand over in Configure (sdk.Config.WithLogger): ferry's
	// logger with the pipeline's and the plugin's name for a plugin in process, nil for one
	// out of process (its own process has its logger, see protocol.Serve).
	Logger *slog.Logger

	client *goplugin.Client
	tail   *logging.Tail
}

// OutOfProcess reports whether the plugin runs in its own process.
func (i *Instance) OutOfProcess() bool { return i.client != nil }

// Host loads plugins and owns the processes it starts.
type Host struct {
	// Registry holds the built-ins.
	Registry *Registry
	// Dirs are searched, in order, for external plugins.
	Dirs []string
	// Executable is ferry's own path, used to serve built-ins out of process (default
	// os.Executable()).
	Executable string
	// Env lists extra NAME=value variables for plugin processes. Plugins otherwise get an
	// empty environment but for PATH, HOME, TMPDIR, TZ and LANG.
	Env []string
	// Logger receives plugin logs (each with the plugin's name and kind).
	Logger *zap.Logger
	// HandshakeTimeout bounds the wait for a started process to answer the plugin handshake
	// (default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration

	// waitReport is how often a pending handshake is logged (default handshakeReport).
	waitReport time.Duration

	// Pipeline, when set, names the pipeline in every plugin log line.
	Pipeline string

	mu      sync.Mutex
	clients []*process
}

// process is a plugin process the host started.
type process struct {
	client *goplugin.Client
	cmd    *exec.Cmd
}

// killGroup kills the process group of the plugin (its own, see launch), so that children
// of a wrapper script that keep its stdout open go too, and go-plugin's Kill, which waits
// for stdout to close, returns.
func (p *process) killGroup() {
	if p.cmd.Process != nil && p.cmd.Process.Pid > 0 {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// kill stops the plugin: gracefully when it runs (go-plugin's Kill), and its whole process
// group when that does not end within killGrace.
func (p *process) kill() {
	done := make(chan struct{})
	go func() { p.client.Kill(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(killGrace):
	}
	p.killGroup()
	<-done
}

// DefaultHandshakeTimeout is how long a plugin process has to answer the handshake.
const DefaultHandshakeTimeout = 30 * time.Second

const (
	// handshakeReport is how often a pending handshake is logged.
	handshakeReport = 5 * time.Second
	// killGrace covers go-plugin's graceful stop (2s) before the process group is killed.
	killGrace = 4 * time.Second
)

// TailLines is how many of a plugin's last stderr lines a crash report shows.
const TailLines = 20

// Load finds and starts a plugin. The caller must eventually call Close on the host.
func (h *Host) Load(ctx context.Context, ref Ref) (*Instance, error) {
	if ref.Path != "" {
		return h.launch(ctx, ref, exec.Command(ref.Path), ref.Path)
	}
	if b, ok := h.Registry.Lookup(ref.Kind, ref.Name); ok {
		if !ref.OutOfProcess {
			p := b.New()
			return &Instance{Ref: ref, Plugin: p, Info: p.Info(), Location: "built-in", Logger: logging.Slog(h.pluginLogger(ref))}, nil
		}
		exe := h.Executable
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("%s: %w: cannot find ferry's own executable: %v", ref, ErrLaunch, err)
			}
		}
		cmd := exec.Command(exe, "plugin", "serve", string(ref.Kind)+"/"+ref.Name)
		return h.launch(ctx, ref, cmd, "built-in, out of process")
	}
	for _, e := range Discover(h.Dirs) {
		if e.Kind == ref.Kind && e.Name == ref.Name {
			return h.launch(ctx, ref, exec.Command(e.Path), e.Path)
		}
	}
	return nil, &NotFoundError{Kind: ref.Kind, Name: ref.Name, Searched: h.Dirs, Suggestion: h.suggest(ref)}
}

func (h *Host) suggest(ref Ref) string {
	var names []string
	for _, b := range h.Registry.All() {
		if b.Kind == ref.Kind {
			names = append(names, b.Name)
		}
	}
	for _, e := range Discover(h.Dirs) {
		if e.Kind == ref.Kind {
			names = append(names, e.Name)
		}
	}
	best, bestD := "", 4
	for _, n := range names {
		if d := levenshtein(ref.Name, n); d < bestD && d <= max(2, len(ref.Name)/3) {
			best, bestD = n, d
		}
	}
	return best
}

// pluginLogger is the host's logger with the pipeline's and the plugin's fields.
func (h *Host) pluginLogger(ref Ref) *zap.Logger {
	logger := h.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	if h.Pipeline != "" {
		logger = logger.With(zap.String(logging.FieldPipeline, h.Pipeline))
	}
	return logger.With(zap.String(logging.FieldPlugin, ref.Name), zap.String(logging.FieldKind, string(ref.Kind)))
}

func (h *Host) pluginEnv(logger *zap.Logger) []string {
	env := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	// The plugin logs only what ferry's level lets through.
	env = append(env, protocol.LogLevelEnv+"="+logging.HCLogLevel(logger).String())
	return append(env, h.Env...)
}

func (h *Host) launch(ctx context.Context, ref Ref, cmd *exec.Cmd, location string) (*Instance, error) {
	logger := h.pluginLogger(ref)
	cmd.Env = h.pluginEnv(logger)
	// Its own process group: the host can kill a wrapper script's children too, and the
	// terminal's Ctrl-C reaches only ferry, which drives the plugins' shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	tail := logging.NewTail(TailLines)
	timeout := h.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	var started atomic.Bool
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  protocol.Handshake,
		VersionedPlugins: protocol.VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		StartTimeout:     timeout,
		Logger:           &startLogger{Logger: logging.NewHCLog(logger, nil), started: &started},
		// Raw lines of the process's stderr (panics, output before Serve): remembered for
		// crash reports; go-plugin also logs them through Logger.
		Stderr: tailWriter{tail},
		// What the plugin writes to os.Stdout/os.Stderr after Serve arrives over go-plugin's
		// stdio stream: log it with the plugin's name and remember it too.
		SyncStderr:  &lineLogger{log: logger, tail: tail},
		SyncStdout:  &lineLogger{log: logger, tail: tail},
		SkipHostEnv: true,
		Managed:     false,
	})
	proc := &process{client: client, cmd: cmd}
	h.mu.Lock()
	h.clients = append(h.clients, proc)
	h.mu.Unlock()

	// fail stops the process and reports err; crashed says the process ended on its own.
	fail := func(err error, crashed bool) (*Instance, error) {
		if !started.Load() {
			proc.killGroup() // nothing to stop gracefully
		}
		proc.kill()
		if isVersionMismatch(err) {
			return nil, &VersionError{Kind: ref.Kind, Name: ref.Name, Path: location, Detail: err.Error(), Ferry: supportedVersions()}
		}
		if crashed {
			return nil, &CrashError{Kind: ref.Kind, Name: ref.Name, Path: location, LastLogs: tail.Lines(), Err: fmt.Errorf("%w: %v", ErrLaunch, err)}
		}
		return nil, fmt.Errorf("%s (%s): %w: %v", ref, location, ErrLaunch, err)
	}
	rpc, err := h.handshake(client, logger, location, timeout)
	if err != nil {
		if strings.Contains(err.Error(), "timeout while waiting for plugin to start") {
			return fail(fmt.Errorf("the process did not answer the plugin handshake within %s "+
				"(a plugin prints its handshake line on stdout once it calls Serve; a wrapper script must exec the plugin)", timeout), false)
		}
		return fail(err, client.Exited())
	}
	started.Store(true)
	raw, err := rpc.Dispense(string(ref.Kind))
	if err != nil {
		return fail(err, client.Exited())
	}
	p, ok := raw.(sdk.Plugin)
	if !ok {
		return fail(fmt.Errorf("dispensed %T, not a plugin", raw), false)
	}
	inst := &Instance{Ref: ref, Location: location, client: client, tail: tail}
	inst.Plugin = wrap(ref.Kind, p, inst.checkCrash)
	inst.Info = p.Info()
	if inst.Info.Kind != ref.Kind || inst.Info.Name != ref.Name && ref.Path == "" {
		if client.Exited() {
			return fail(errors.New("the process exited during the first call (Info)"), true)
		}
		return fail(fmt.Errorf("the executable serves %s %q, not the %s plugin %q", inst.Info.Kind, inst.Info.Name, ref.Kind, ref.Name), false)
	}
	logger.Debug("plugin started", zap.String(logging.FieldPath, location), zap.String("version", inst.Info.Version))
	return inst, nil
}

// handshake starts the process and connects to it, saying every waitReport what it waits for.
func (h *Host) handshake(client *goplugin.Client, log *zap.Logger, location string, timeout time.Duration) (goplugin.ClientProtocol, error) {
	every := h.waitReport
	if every <= 0 {
		every = handshakeReport
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		start := time.Now()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				log.Warn("waiting for the plugin to answer the handshake (its handshake line on stdout)",
					zap.String(logging.FieldPath, location),
					zap.Duration("waited", time.Since(start).Round(100*time.Millisecond)), zap.Duration("timeout", timeout))
			}
		}
	}()
	return client.Client()
}
func isVersionMismatch(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "incompatible api version") || strings.Contains(s, "protocol version")
}

// checkCrash turns an error from a call into a CrashError when the process has exited.
func (i *Instance) checkCrash(err error) error {
	if err == nil || i.client == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var ce *CrashError
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, protocol.ErrConnectionLost) {
		// The connection breaks a moment before go-plugin has reaped the process and
		// drained its stderr: give it that moment.
		deadline := time.Now().Add(exitGrace)
		for !i.client.Exited() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if i.client.Exited() {
		return &CrashError{Kind: i.Ref.Kind, Name: i.Ref.Name, Path: i.Location, LastLogs: i.tail.Lines(), Err: err}
	}
	return err
}

// Exited reports whether an out-of-process plugin's process has exited.
func (i *Instance) Exited() bool { return i.client != nil && i.client.Exited() }

// Kill stops an out-of-process plugin's process (used by tests and by shutdown).
func (i *Instance) Kill() {
	if i.client != nil {
		i.client.Kill()
	}
}

// Close stops every plugin process the host started.
func (h *Host) Close() {
	h.mu.Lock()
	clients := h.clients
	h.clients = nil
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); c.kill() }()
	}
	wg.Wait()
}

// startLogger passes go-plugin's log on, except what it says about stopping a process that
// never completed the handshake ("failed to exit gracefully", "plugin process exited" with
// the kill signal): that process was killed on purpose, and Load's error says why.
type startLogger struct {
	hclog.Logger
	started *atomic.Bool
}

func (l *startLogger) quiet(msg string) bool {
	return !l.started.Load() && (strings.Contains(msg, "failed to exit gracefully") || strings.Contains(msg, "plugin process exited"))
}

func (l *startLogger) Warn(msg string, args ...interface{}) {
	if l.quiet(msg) {
		l.Logger.Debug(msg, args...)
		return
	}
	l.Logger.Warn(msg, args...)
}

func (l *startLogger) Error(msg string, args ...interface{}) {
	if l.quiet(msg) {
		l.Logger.Debug(msg, args...)
		return
	}
	l.Logger.Error(msg, args...)
}

// exitGrace is how long a lost connection waits for the plugin process to be seen exiting.
const exitGrace = 3 * time.Second

type tailWriter struct{ t *logging.Tail }

// lineLogger logs each complete line written to it.
type lineLogger struct {
	mu   sync.Mutex
	log  *zap.Logger
	tail *logging.Tail
	buf  []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		if strings.TrimSpace(line) == "" {
			continue
		}
		w.tail.Add(line)
		w.log.Info(line)
	}
	return len(p), nil
}

func (w tailWriter) Write(p []byte) (int, error) {
	if s := strings.TrimRight(string(p), "\n"); s != "" {
		w.t.Add(s)
	}
	return len(p), nil
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func supportedVersions() []int {
	var vs []int
	for v := range protocol.VersionedPlugins() {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}
