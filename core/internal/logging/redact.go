package logging

import (
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Redactor masks secret values in text. Its function is set once the secrets are known (the
// pipeline file decoded) and may be replaced; the zero Redactor passes text through.
type Redactor struct {
	fn atomic.Pointer[func(string) string]
}

// Set replaces the masking function.
func (r *Redactor) Set(fn func(string) string) { r.fn.Store(&fn) }

// Redact masks s.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	if fn := r.fn.Load(); fn != nil {
		return (*fn)(s)
	}
	return s
}

// Redacting wraps l so that every message, and every string, stringer and error field,
// passes through r when it is written: plugins' and libraries' log lines that quote a
// secret setting (a DSN, a sensitive variable's value) print *** instead.
func Redacting(l *zap.Logger, r *Redactor) *zap.Logger {
	return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &redactCore{Core: c, r: r} }))
}

type redactCore struct {
	zapcore.Core
	r *Redactor
}

func (c *redactCore) With(fs []zapcore.Field) zapcore.Core {
	return &redactCore{Core: c.Core.With(c.fields(fs)), r: c.r}
}

func (c *redactCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *redactCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	e.Message = c.r.Redact(e.Message)
	return c.Core.Write(e, c.fields(fs))
}

func (c *redactCore) fields(fs []zapcore.Field) []zapcore.Field {
	out := make([]zapcore.Field, len(fs))
	for i, f := range fs {
		switch f.Type {
		case zapcore.StringType:
			f.String = c.r.Redact(f.String)
		case zapcore.ErrorType:
			if err, ok := f.Interface.(error); ok && err != nil {
				f = zap.String(f.Key, c.r.Redact(err.Error()))
			}
		case zapcore.StringerType:
			if s, ok := f.Interface.(interface{ String() string }); ok && s != nil {
				f = zap.String(f.Key, c.r.Redact(s.String()))
			}
		}
		out[i] = f
	}
	return out
}
