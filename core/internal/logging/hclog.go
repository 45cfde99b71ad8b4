package logging

import (
	"bytes"
	"io"
	"log"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// HCLog adapts a zap logger to hclog.Logger, the interface go-plugin logs through. Lines a
// plugin writes to stderr arrive here too (go-plugin parses JSON lines from plugins that use
// hclog and passes other lines at debug level); the adapter remembers the last lines so that
// a crash can be reported with the plugin's final output.
type HCLog struct {
	z     *zap.Logger
	name  string
	level hclog.Level
	args  []any
	tail  *Tail
}

// NewHCLog returns an hclog.Logger writing to z. tail, if non-nil, records the last lines.
func NewHCLog(z *zap.Logger, tail *Tail) *HCLog {
	return &HCLog{z: z, level: HCLogLevel(z), tail: tail}
}

// HCLogLevel is the hclog level that lets through what z logs.
func HCLogLevel(z *zap.Logger) hclog.Level {
	switch {
	case z.Core().Enabled(zapcore.DebugLevel):
		return hclog.Debug
	case z.Core().Enabled(zapcore.InfoLevel):
		return hclog.Info
	case z.Core().Enabled(zapcore.WarnLevel):
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (h *HCLog) fields(args []any) []zap.Field {
	all := append(append([]any{}, h.args...), args...)
	fs := make([]zap.Field, 0, len(all)/2+1)
	for i := 0; i+1 < len(all); i += 2 {
		k, ok := all[i].(string)
		if !ok {
			continue
		}
		switch k {
		case "@module", "@caller", "timestamp":
			// hclog's own keys in a plugin's JSON lines (go-plugin adds the line's timestamp):
			// ferry's fields already say which plugin, and zap stamps the time.
			continue
		}
		if k == FieldPlugin || k == FieldKind {
			// go-plugin names the executable "plugin"; ferry's own field says which plugin.
			k = FieldPath
		}
		fs = append(fs, zap.Any(k, all[i+1]))
	}
	if len(all)%2 == 1 {
		fs = append(fs, zap.Any("extra", all[len(all)-1]))
	}
	return fs
}

// Log implements hclog.Logger.
func (h *HCLog) Log(level hclog.Level, msg string, args ...any) {
	if h.tail != nil {
		h.tail.Add(msg)
	}
	if level < h.level {
		return
	}
	fs := h.fields(args)
	// go-plugin's own messages (not lines from a plugin's stderr, which arrive through a
	// Named logger) describe process management: keep them at debug.
	if h.name == "" && level > hclog.Debug && level < hclog.Warn {
		level = hclog.Debug
	}
	switch level {
	case hclog.Trace, hclog.Debug:
		h.z.Debug(msg, fs...)
	case hclog.NoLevel, hclog.Info:
		h.z.Info(msg, fs...)
	case hclog.Warn:
		h.z.Warn(msg, fs...)
	default:
		h.z.Error(msg, fs...)
	}
}

// Trace implements hclog.Logger.
func (h *HCLog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }

// Debug implements hclog.Logger.
func (h *HCLog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }

// Info implements hclog.Logger.
func (h *HCLog) Info(msg string, args ...any) { h.Log(hclog.Info, msg, args...) }

// Warn implements hclog.Logger.
func (h *HCLog) Warn(msg string, args ...any) { h.Log(hclog.Warn, msg, args...) }

// Error implements hclog.Logger.
func (h *HCLog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

// IsTrace implements hclog.Logger.
func (h *HCLog) IsTrace() bool { return h.level <= hclog.Trace }

// IsDebug implements hclog.Logger.
func (h *HCLog) IsDebug() bool { return h.level <= hclog.Debug }

// IsInfo implements hclog.Logger.
func (h *HCLog) IsInfo() bool { return h.level <= hclog.Info }

// IsWarn implements hclog.Logger.
func (h *HCLog) IsWarn() bool { return h.level <= hclog.Warn }

// IsError implements hclog.Logger.
func (h *HCLog) IsError() bool { return h.level <= hclog.Error }

// ImpliedArgs implements hclog.Logger.
func (h *HCLog) ImpliedArgs() []any { return h.args }

// With implements hclog.Logger.
func (h *HCLog) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any{}, h.args...), args...)
	return &c
}

// Name implements hclog.Logger.
func (h *HCLog) Name() string { return h.name }

// Named implements hclog.Logger.
func (h *HCLog) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

// ResetNamed implements hclog.Logger.
func (h *HCLog) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel implements hclog.Logger.
func (h *HCLog) SetLevel(level hclog.Level) { h.level = level }

// GetLevel implements hclog.Logger.
func (h *HCLog) GetLevel() hclog.Level { return h.level }

// StandardLogger implements hclog.Logger.
func (h *HCLog) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}

// StandardWriter implements hclog.Logger.
func (h *HCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer { return lineWriter{h} }

type lineWriter struct{ h *HCLog }

func (w lineWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		if s := strings.TrimSpace(string(line)); s != "" {
			w.h.Log(hclog.Info, s)
		}
	}
	return len(p), nil
}

// Tail keeps the last lines a plugin wrote.
type Tail struct {
	mu    sync.Mutex
	lines []string
	max   int
	next  int
	full  bool
}

// NewTail keeps the last max lines.
func NewTail(max int) *Tail { return &Tail{lines: make([]string, max), max: max} }

// Add records a line.
func (t *Tail) Add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines[t.next] = line
	t.next = (t.next + 1) % t.max
	if t.next == 0 {
		t.full = true
	}
}

// Lines returns the recorded lines, oldest first.
func (t *Tail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	return append(append([]string(nil), t.lines[t.next:]...), t.lines[:t.next]...)
}

var _ hclog.Logger = (*HCLog)(nil)
