package protocol

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/grpclog"
)

// LogLevelEnv names the environment variable through which the host passes its log level
// (trace, debug, info, warn or error) to a plugin process, so a plugin does not send lines
// the host would drop. Serve's logger uses it; info when it is unset.
const LogLevelEnv = "FERRY_LOG_LEVEL"

// pluginLogger is the hclog logger a served plugin logs through: JSON lines on the process's
// stderr, which go-plugin on the host side parses and hands, with their level and fields, to
// ferry's logger.
func pluginLogger(name string) hclog.Logger {
	lvl := hclog.LevelFromString(os.Getenv(LogLevelEnv))
	if lvl == hclog.NoLevel {
		lvl = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Output:     os.Stderr,
		JSONFormat: true,
		Level:      lvl,
	})
}

// hclogHandler is a slog.Handler writing to an hclog logger: what sdk.Config.Logger returns
// in a plugin process.
type hclogHandler struct {
	l      hclog.Logger
	prefix string
}

func newSlog(l hclog.Logger) *slog.Logger { return slog.New(&hclogHandler{l: l}) }

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (h *hclogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.l.GetLevel() <= hclogLevel(l)
}

func (h *hclogHandler) Handle(_ context.Context, r slog.Record) error {
	args := make([]any, 0, 2*r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		args = appendArg(args, h.prefix, a)
		return true
	})
	h.l.Log(hclogLevel(r.Level), r.Message, args...)
	return nil
}

func (h *hclogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	args := make([]any, 0, 2*len(as))
	for _, a := range as {
		args = appendArg(args, h.prefix, a)
	}
	return &hclogHandler{l: h.l.With(args...), prefix: h.prefix}
}

func (h *hclogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &hclogHandler{l: h.l, prefix: h.prefix + name + "."}
}

// appendArg appends a's key and a value that survives JSON: the host sees strings, numbers
// and booleans (errors and other values as their text).
func appendArg(args []any, prefix string, a slog.Attr) []any {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return args
	}
	key := prefix + a.Key
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		return append(args, key, v.String())
	case slog.KindInt64:
		return append(args, key, v.Int64())
	case slog.KindUint64:
		return append(args, key, v.Uint64())
	case slog.KindFloat64:
		return append(args, key, v.Float64())
	case slog.KindBool:
		return append(args, key, v.Bool())
	case slog.KindDuration:
		return append(args, key, v.Duration().String())
	case slog.KindTime:
		return append(args, key, v.Time().Format(time.RFC3339Nano))
	case slog.KindGroup:
		p := prefix
		if a.Key != "" {
			p = key + "."
		}
		for _, g := range v.Group() {
			args = appendArg(args, p, g)
		}
		return args
	}
	switch x := v.Any().(type) {
	case error:
		return append(args, key, x.Error())
	case fmt.Stringer:
		return append(args, key, x.String())
	}
	return append(args, key, fmt.Sprint(v.Any()))
}

// routeLibraries points package log, slog's default logger and grpclog at l (see Serve).
func routeLibraries(l hclog.Logger) {
	lib := l.With("component", "library")
	slog.SetDefault(newSlog(lib)) // also routes package log
	grpclog.SetLoggerV2(grpcLogger{lib})
}

// grpcLogger is grpc-go's logger over hclog; grpc-go's info lines are chatter (debug), and so
// are its warnings about the host's connection closing (see warn).
type grpcLogger struct{ l hclog.Logger }

func sprint(args []any) string { return strings.TrimSpace(fmt.Sprintln(args...)) }

func (g grpcLogger) Info(args ...any)                    { g.l.Debug(sprint(args)) }
func (g grpcLogger) Infoln(args ...any)                  { g.l.Debug(sprint(args)) }
func (g grpcLogger) Infof(format string, args ...any)    { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Warning(args ...any)                 { g.warn(sprint(args)) }
func (g grpcLogger) Warningln(args ...any)               { g.warn(sprint(args)) }
func (g grpcLogger) Warningf(format string, args ...any) { g.warn(fmt.Sprintf(format, args...)) }

// warn logs a warning of grpc-go, except those about a connection closed while a call was
// finishing ("transport is closing"): ferry closes a plugin's connection when it is done with
// the plugin (at the end of a run, after `ferry plugins` asked for its Info), so the plugin's
// server sees that at every normal end. Those go to debug; a connection lost while ferry
// still needs the plugin is reported by ferry itself (protocol.ErrConnectionLost).
func (g grpcLogger) warn(msg string) {
	if strings.Contains(msg, "transport is closing") {
		g.l.Debug(msg)
		return
	}
	g.l.Warn(msg)
}
func (g grpcLogger) Error(args ...any)                 { g.l.Error(sprint(args)) }
func (g grpcLogger) Errorln(args ...any)               { g.l.Error(sprint(args)) }
func (g grpcLogger) Errorf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Fatal(args ...any)                 { g.l.Error(sprint(args)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any)               { g.l.Error(sprint(args)); os.Exit(1) }
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.l.Error(fmt.Sprintf(format, args...))
	os.Exit(1)
}
func (g grpcLogger) V(l int) bool { return l <= 0 }
