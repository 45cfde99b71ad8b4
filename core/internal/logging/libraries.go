package logging

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc/grpclog"
)

// Libraries log through process-wide hooks, not through loggers passed in: the standard
// library's log and slog default loggers (go-mysql's fallbacks, the RocketMQ gRPC client's
// configuration warnings) and grpc-go's grpclog. RouteLibraries points all of them at z, so
// under --log-format json every line on stderr is JSON with ferry's levels. It may be called
// again (tests run the CLI several times in one process): the hooks are installed once and
// follow the latest z. The plugins' own client libraries are routed by the plugins through
// their sdk.Config.Logger (go-sql-driver's Config.Logger, go-mysql's BinlogSyncerConfig.Logger,
// rocketmq-client-go's rlog).
func RouteLibraries(z *zap.Logger) {
	current.Store(z.With(zap.String(FieldComponent, "library")))
	routeOnce.Do(func() {
		l := zap.New(proxyCore{})
		slog.SetDefault(Slog(l)) // also routes package log (at info)
		grpclog.SetLoggerV2(grpcLogger{l.Sugar()})
	})
}

var (
	current   atomic.Pointer[zap.Logger]
	routeOnce sync.Once
)

// proxyCore writes to the core of the logger RouteLibraries was given last.
type proxyCore struct{ fields []zapcore.Field }

func (proxyCore) core() zapcore.Core {
	if z := current.Load(); z != nil {
		return z.Core()
	}
	return zapcore.NewNopCore()
}

func (p proxyCore) Enabled(l zapcore.Level) bool { return p.core().Enabled(l) }

func (p proxyCore) With(fs []zapcore.Field) zapcore.Core {
	return proxyCore{fields: append(append([]zapcore.Field(nil), p.fields...), fs...)}
}

func (p proxyCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if p.Enabled(e.Level) {
		return ce.AddCore(e, p)
	}
	return ce
}

func (p proxyCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	if len(p.fields) > 0 {
		fs = append(append([]zapcore.Field(nil), p.fields...), fs...)
	}
	return p.core().Write(e, fs)
}

func (p proxyCore) Sync() error { return p.core().Sync() }

// grpcLogger is grpc-go's logger over zap. grpc-go reports connection trouble at warning and
// error; its info lines (channel and transport state) are chatter and go to debug.
type grpcLogger struct{ s *zap.SugaredLogger }

func (g grpcLogger) Info(args ...any)                 { g.s.Debug(args...) }
func (g grpcLogger) Infoln(args ...any)               { g.s.Debugln(args...) }
func (g grpcLogger) Infof(format string, args ...any) { g.s.Debugf(format, args...) }
func (g grpcLogger) Warning(args ...any)              { g.s.Warn(args...) }
func (g grpcLogger) Warningln(args ...any)            { g.s.Warnln(args...) }
func (g grpcLogger) Warningf(format string, args ...any) {
	g.s.Warnf(format, args...)
}
func (g grpcLogger) Error(args ...any)                 { g.s.Error(args...) }
func (g grpcLogger) Errorln(args ...any)               { g.s.Errorln(args...) }
func (g grpcLogger) Errorf(format string, args ...any) { g.s.Errorf(format, args...) }
func (g grpcLogger) Fatal(args ...any)                 { g.s.Fatal(args...) }
func (g grpcLogger) Fatalln(args ...any)               { g.s.Fatalln(args...) }
func (g grpcLogger) Fatalf(format string, args ...any) { g.s.Fatalf(format, args...) }
func (g grpcLogger) V(l int) bool                      { return l <= 0 }
