package status

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ProgressLogInterval is how often LogProgress logs the snapshot's progress.
const ProgressLogInterval = 5 * time.Second

// LogProgress logs the snapshot's progress while a snapshot is under way (for runs without a
// terminal, where no progress bar shows it): when it is first seen and then every interval,
// tables done of all, rows read of the estimate, percent, rate, the time left and each table
// being read; then one "snapshot done" line with the rows, the time it took and the average
// rate. It looks at the progress the tracker polls (once a second) and returns when ctx ends.
func (t *Tracker) LogProgress(ctx context.Context, interval time.Duration) {
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		pl := progressLog{every: interval}
		for {
			select {
			case now := <-tick.C:
				pl.log(t, now)
			case <-ctx.Done():
				return
			}
		}
	}()
}

// progressLog is LogProgress's state: when this run first saw the snapshot under way.
type progressLog struct {
	every   time.Duration
	since   time.Time // zero: no snapshot under way seen (since the last "snapshot done")
	rows0   int64     // rows read when it was first seen
	lastLog time.Time
}

func (pl *progressLog) log(t *Tracker, now time.Time) {
	t.mu.Lock()
	p := t.prog
	if p != nil {
		p = p.clone()
	}
	t.mu.Unlock()
	if p == nil {
		return
	}
	log := t.logger()
	if p.Done {
		if !pl.since.IsZero() {
			took := now.Sub(pl.since)
			fields := []zap.Field{zap.Int("tables", p.TablesTotal), zap.Int64("rows", p.RowsRead),
				zap.Duration("took", took.Round(time.Second))}
			if s := took.Seconds(); s > 0 {
				fields = append(fields, zap.Float64("rows_per_second", float64(int64(float64(p.RowsRead-pl.rows0)/s))))
			}
			log.Info("snapshot done", fields...)
		}
		pl.since = time.Time{}
		return
	}
	if pl.since.IsZero() {
		pl.since, pl.rows0 = now, p.RowsRead
	} else if now.Sub(pl.lastLog) < pl.every {
		return
	}
	pl.lastLog = now
	fields := []zap.Field{
		zap.String("tables_done", fmt.Sprintf("%d/%d", p.TablesDone, p.TablesTotal)),
		zap.Int64("rows_read", p.RowsRead), zap.Int64("rows_estimated", p.RowsEstimated),
		zap.String("percent", percentText(p.Percent)),
		zap.Float64("rows_per_second", float64(int64(p.RowsPerSecond))),
	}
	if p.ETASeconds != nil {
		fields = append(fields, zap.Duration("eta", (time.Duration(*p.ETASeconds)*time.Second).Round(time.Second)))
	}
	var reading []string
	for _, tp := range p.Tables {
		if tp.State != TableReading {
			continue
		}
		s := fmt.Sprintf("%s %d", tp.Table, tp.RowsRead)
		if tp.RowsEstimated > 0 {
			s += fmt.Sprintf("/%d %s", tp.RowsEstimated, percentText(tp.Percent))
		}
		reading = append(reading, s)
	}
	if len(reading) > 0 {
		fields = append(fields, zap.String("reading", strings.Join(reading, ", ")))
	}
	log.Info("snapshot progress", fields...)
}

func percentText(p *float64) string {
	if p == nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f%%", *p)
}
