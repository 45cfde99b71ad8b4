package pipeline

import (
	"context"
	"errors"
	"net"
	"regexp"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/logging"
	"github.com/ferry-cdc/ferry/sdk"
)

// Defaults of the startup backoff (Config.StartupRetry): the first retry after a second,
// doubling to 30s, so a database that comes up a minute late is found within seconds of it
// and a long outage costs a few attempts a minute.
const (
	DefaultStartupRetryInitial = time.Second
	DefaultStartupRetryMax     = 30 * time.Second
)

// Waiting describes a start-up wait: a plugin's Open failed with an error that may pass
// (Config.StartupWait) and Run tries again at Next.
type Waiting struct {
	// Stage is "sink" or "source"; Plugin the plugin's name.
	Stage, Plugin string
	// Address is the host:port the error names, when it names one ("" else).
	Address string
	// Attempt is the number of the attempt that failed (1 for the first).
	Attempt int
	// Err is the attempt's error.
	Err error
	// Next is when the next attempt starts; Until when the wait ends and Run gives up.
	Next, Until time.Time
}

// Waitable reports whether a start-up failure may pass by itself, so that waiting for it
// makes sense (a refused connection, a timeout: the target is not up yet): not a
// cancellation, not an error marked permanent (wrong credentials, a
// missing topic, a bad position, a crashed plugin: sdk.Permanent, plugin.CrashError), not a
// panic and not an invalid configuration (ErrInvalidConfig, an *sdk.AttributeError).
func Waitable(err error) bool {
	var pe *PanicError
	var ae *sdk.AttributeError
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return false
	case isPermanent(err), errors.As(err, &pe), errors.Is(err, ErrInvalidConfig), errors.As(err, &ae):
		return false
	}
	return true
}

// addrPattern finds a host:port in an error's text: an IPv4 or bracketed IPv6 address, or
// a host name with a dot or "localhost", then a port.
var addrPattern = regexp.MustCompile(`(?:\[[0-9A-Fa-f:.]+\]|\b(?:\d{1,3}\.){3}\d{1,3}|\blocalhost|\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):\d{1,5}\b`)

// ErrorAddress returns the address (host:port) err is about: a *net.OpError's, else the
// last host:port its text names (the innermost cause comes last), else "".
func ErrorAddress(err error) string {
	if err == nil {
		return ""
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
		return oe.Addr.String()
	}
	all := addrPattern.FindAllString(err.Error(), -1)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1]
}

// openWaiting calls open until it succeeds, fails with an error that Waitable refuses, the
// start-up wait (until) is over, or ctx is cancelled (then it returns ctx's error, which Run
// turns into a clean stop). After each waitable failure it logs a warning with what it waits
// for and sleeps the startup backoff. It returns the last attempt's error. Close is not
// called between attempts: the SDK lets the host call Open again after a failed Open (a
// failed Open releases what it acquired), and Close stays the last call, once.
func (p *Pipeline) openWaiting(ctx context.Context, until time.Time, stage, plugin string, open func() error) error {
	for attempt := 1; ; attempt++ {
		err := protect(open)
		if err == nil {
			if attempt > 1 {
				p.setWaiting(nil)
				p.log.Info("opened after waiting", zap.String(logging.FieldKind, stage), zap.String(logging.FieldPlugin, plugin),
					zap.Int(logging.FieldAttempt, attempt))
			}
			return nil
		}
		left := time.Until(until)
		if ctx.Err() != nil || left <= 0 || !Waitable(err) {
			if attempt > 1 {
				p.setWaiting(nil)
			}
			return err
		}
		delay := min(p.cfg.StartupRetry.Delay(attempt), left)
		w := &Waiting{Stage: stage, Plugin: plugin, Address: ErrorAddress(err), Attempt: attempt, Err: err,
			Next: time.Now().Add(delay), Until: until}
		fields := []zap.Field{zap.String(logging.FieldKind, stage), zap.String(logging.FieldPlugin, plugin)}
		if w.Address != "" {
			fields = append(fields, zap.String("address", w.Address))
		}
		fields = append(fields, zap.Int(logging.FieldAttempt, attempt), zap.Duration("next_retry_in", delay.Round(time.Millisecond)),
			zap.Duration("gives_up_in", left.Round(time.Second)), zap.Error(err))
		p.log.Warn("waiting for the "+stage+" to open (runtime startup_wait)", fields...)
		p.setWaiting(w)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			p.setWaiting(nil)
			p.log.Info("stopped while waiting for the "+stage+" to open", zap.String(logging.FieldPlugin, plugin))
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (p *Pipeline) setWaiting(w *Waiting) {
	if p.cfg.OnWaiting != nil {
		p.cfg.OnWaiting(w)
	}
}
