package logging

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Slog returns a *slog.Logger that writes to z: the logger in-process plugins get
// (sdk.Config.Logger), and the one handed to libraries that log through slog (go-mysql).
// Levels map to zap's (below Debug is Debug, above Error is Error), attributes become zap
// fields and groups prefix their attributes' keys ("group.key").
func Slog(z *zap.Logger) *slog.Logger { return slog.New(&zapHandler{z: z}) }

type zapHandler struct {
	z      *zap.Logger
	prefix string
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l < slog.LevelInfo:
		return zapcore.DebugLevel
	case l < slog.LevelWarn:
		return zapcore.InfoLevel
	case l < slog.LevelError:
		return zapcore.WarnLevel
	default:
		return zapcore.ErrorLevel
	}
}

func (h *zapHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.z.Core().Enabled(zapLevel(l))
}

func (h *zapHandler) Handle(_ context.Context, r slog.Record) error {
	ce := h.z.Check(zapLevel(r.Level), r.Message)
	if ce == nil {
		return nil
	}
	if !r.Time.IsZero() {
		ce.Time = r.Time
	}
	fs := make([]zap.Field, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		fs = appendAttr(fs, h.prefix, a)
		return true
	})
	ce.Write(fs...)
	return nil
}

func (h *zapHandler) WithAttrs(as []slog.Attr) slog.Handler {
	fs := make([]zap.Field, 0, len(as))
	for _, a := range as {
		fs = appendAttr(fs, h.prefix, a)
	}
	return &zapHandler{z: h.z.With(fs...), prefix: h.prefix}
}

func (h *zapHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &zapHandler{z: h.z, prefix: h.prefix + name + "."}
}

func appendAttr(fs []zap.Field, prefix string, a slog.Attr) []zap.Field {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return fs
	}
	key := prefix + a.Key
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		return append(fs, zap.String(key, v.String()))
	case slog.KindInt64:
		return append(fs, zap.Int64(key, v.Int64()))
	case slog.KindUint64:
		return append(fs, zap.Uint64(key, v.Uint64()))
	case slog.KindFloat64:
		return append(fs, zap.Float64(key, v.Float64()))
	case slog.KindBool:
		return append(fs, zap.Bool(key, v.Bool()))
	case slog.KindDuration:
		return append(fs, zap.Duration(key, v.Duration()))
	case slog.KindTime:
		return append(fs, zap.Time(key, v.Time()))
	case slog.KindGroup:
		p := prefix
		if a.Key != "" {
			p = key + "."
		}
		for _, g := range v.Group() {
			fs = appendAttr(fs, p, g)
		}
		return fs
	}
	switch x := v.Any().(type) {
	case error:
		return append(fs, zap.String(key, x.Error()))
	case time.Duration:
		return append(fs, zap.Duration(key, x))
	}
	return append(fs, zap.Any(key, v.Any()))
}
