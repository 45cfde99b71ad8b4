package cli

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/logging"
	"github.com/ferry-cdc/ferry/core/internal/pipeline"
	"github.com/ferry-cdc/ferry/core/internal/status"
	"github.com/ferry-cdc/ferry/sdk"
)

// startupRetry is the backoff of the start-up wait's prechecks, the one the pipeline uses
// for the plugins' Open (a variable for the tests).
var startupRetry = pipeline.RetryPolicy{Initial: pipeline.DefaultStartupRetryInitial, Max: pipeline.DefaultStartupRetryMax}

// isConnectivityCheck reports a check that says whether a plugin reaches its database or
// broker: by the convention of the built-in plugins, it is named "connectivity" or ends in
// "_connectivity".
func isConnectivityCheck(name string) bool {
	return name == "connectivity" || strings.HasSuffix(name, "_connectivity")
}

// unreachable returns the first failed, unskipped connectivity check: while one fails, the
// other failures may be its consequences (an objects check cannot list the tables of a
// database that is down), so the start-up wait goes on.
func unreachable(rows []checkRow) (checkRow, bool) {
	for _, r := range rows {
		if r.Status == sdk.CheckFail && !r.skipped && isConnectivityCheck(r.Name) {
			return r, true
		}
	}
	return checkRow{}, false
}

// precheckWaiting runs the prechecks as ferry run does (printing only problems and a
// summary), retrying them with backoff until until while a connectivity check fails (the
// source or the sink cannot be reached yet). Each wait is logged at warn level and shown in
// status; the last attempt's checks are printed as precheck prints them. It returns
// ctx's error when ctx is cancelled while waiting.
func precheckWaiting(ctx context.Context, g *globals, l *loaded, skips []string, w io.Writer, until time.Time,
	tracker *status.Tracker, log *zap.Logger) error {
	skip := skipSet(skips)
	for attempt := 1; ; attempt++ {
		rows := runPrechecks(ctx, g, l, skip)
		bad, waiting := unreachable(rows)
		left := time.Until(until)
		if !waiting || left <= 0 || ctx.Err() != nil {
			if attempt > 1 {
				tracker.SetWaiting(nil)
				if !waiting {
					log.Info("prechecks reach the source and the sink after waiting", zap.Int(logging.FieldAttempt, attempt))
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return reportPrechecks(rows, skip, w, precheckSummary, nil)
		}
		delay := min(startupRetry.Delay(attempt), left)
		addr := pipeline.ErrorAddress(errors.New(bad.Detail))
		kind, name, ok := strings.Cut(bad.plugin, " ") // "sink rocketmq"
		if !ok {
			kind, name = "", bad.plugin
		}
		fields := []zap.Field{zap.String(logging.FieldKind, kind), zap.String(logging.FieldPlugin, name), zap.String("check", bad.Name)}
		if addr != "" {
			fields = append(fields, zap.String("address", addr))
		}
		fields = append(fields, zap.Int(logging.FieldAttempt, attempt), zap.Duration("next_retry_in", delay.Round(time.Millisecond)),
			zap.Duration("gives_up_in", left.Round(time.Second)), zap.String("detail", bad.Detail))
		log.Warn("waiting for "+bad.plugin+" to be reachable (precheck "+bad.Name+" failed; runtime startup_wait)", fields...)
		tracker.SetWaiting(&status.Waiting{For: strings.TrimSpace(kind + " " + strconv.Quote(name)), Address: addr, What: "precheck", Attempt: attempt,
			Error: bad.Detail, NextAttemptAt: time.Now().Add(delay), GiveUpAt: until})
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			tracker.SetWaiting(nil)
			log.Info("stopped while waiting for " + bad.plugin)
			return ctx.Err()
		case <-t.C:
		}
	}
}
