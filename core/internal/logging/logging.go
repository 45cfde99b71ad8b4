package logging

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options select the log format and level.
type Options struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is "console" (human) or "json".
	Format string
	// Output defaults to stderr.
	Output io.Writer
}

// New builds a logger.
func New(o Options) (*zap.Logger, error) {
	lvl := zapcore.InfoLevel
	if o.Level != "" {
		if err := lvl.Set(o.Level); err != nil {
			return nil, fmt.Errorf("log level %q: use debug, info, warn or error", o.Level)
		}
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	encCfg.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	switch o.Format {
	case "", "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	default:
		return nil, fmt.Errorf("log format %q: use console or json", o.Format)
	}
	out := o.Output
	if out == nil {
		out = os.Stderr
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(out)), lvl)
	return zap.New(core, zap.ErrorOutput(zapcore.AddSync(os.Stderr))), nil
}
