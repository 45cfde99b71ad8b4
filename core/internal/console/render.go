package console

import (
	"fmt"
	"strings"
	"time"

	"github.com/ferry-cdc/ferry/core/internal/status"
)

// The renderer is pure: a status snapshot and a terminal width in, one line out. The line
// is plain text (no control characters) and takes at most width-1 columns, so that it never
// wraps (a wrapped line could not be redrawn in place). Only ASCII is used for decoration:
// block and dot characters are "ambiguous width" and take two columns in many CJK terminals.

// Location is the time zone commit times are shown in.
var Location = time.Local

const (
	minBar = 10 // columns of the bar itself, at least
	maxBar = 30 // and at most
	sep    = " | "
)

// part is one piece of a line; when the line is too wide, parts of the highest prio go
// first (the last of equals first).
type part struct {
	text  string
	prio  int
	short string // a shorter form, used before parts of prio 0 or 1 are dropped
}

// Frame is the line shown for s: the snapshot's progress bar while a snapshot is read,
// else the live line.
func Frame(s status.Snapshot, width int) string {
	if Snapshotting(s) {
		return ProgressBar(s, width)
	}
	return LiveLine(s, width)
}

// Snapshotting reports whether s shows a snapshot that is not done.
func Snapshotting(s status.Snapshot) bool {
	return s.Snapshot != nil && !s.Snapshot.Done && s.Snapshot.TablesTotal > 0
}

// avail is the number of columns a line may take in a terminal width columns wide.
func avail(width int) int {
	if width <= 0 {
		width = 80
	}
	return max(width-1, 1)
}

// ProgressBar renders the snapshot's progress (the percent is unknown, "?%", while a table
// that is not done has no estimate; the bar then shows the tables done):
//
//	snapshot [=======>         ]  45.4%  1.24M/~2.74M rows  12.3k rows/s  ETA 2m01s  tables 1/4  slowest shop.order_items 15.0%
//
// The table shown is the one being read ("reading"), the least advanced of several
// ("slowest"), or the next one ("next"). On a narrower terminal the table goes first, then
// the rate, the table count, the ETA and the rows. Without a snapshot it is LiveLine.
func ProgressBar(s status.Snapshot, width int) string {
	p := s.Snapshot
	if p == nil {
		return LiveLine(s, width)
	}
	n := avail(width)
	head := "snapshot"
	if s.Phase != "" && s.Phase != status.PhaseRunning {
		head += " (" + s.Phase + ")"
	}
	frac := 0.0
	if p.TablesTotal > 0 {
		frac = float64(p.TablesDone) / float64(p.TablesTotal)
	}
	pct := "    ?%"
	rows := Compact(float64(p.RowsRead)) + " rows"
	if p.Percent != nil {
		frac = *p.Percent / 100
		pct = fmt.Sprintf("%6s", Percent(p.Percent)) // fixed width: what follows stays put
		if p.RowsEstimated > 0 {
			rows = Compact(float64(p.RowsRead)) + "/~" + Compact(float64(max(p.RowsEstimated, p.RowsRead))) + " rows"
		}
	}
	parts := []part{
		{text: pct, prio: 0},
		{text: rows, prio: 1},
		{text: Compact(p.RowsPerSecond) + " rows/s", prio: 3},
	}
	if p.ETASeconds != nil && !p.Done {
		parts = append(parts, part{text: "ETA " + age(time.Duration(*p.ETASeconds*float64(time.Second))), prio: 2})
	}
	parts = append(parts, part{text: "tables " + Count(int64(p.TablesDone)) + "/" + Count(int64(p.TablesTotal)), prio: 2})
	// The bar's width depends on the terminal's only, so that it does not jump as numbers
	// change; parts that do not fit go.
	const gap = "  "
	barW := min(max(n/8, minBar), maxBar)
	used := func() int { return cells(head) + len(" [] ") + barW + cells(join(parts, gap)) }
	all := len(parts)
	for len(parts) > 1 && used() > n {
		parts = shrink(parts)
	}
	// The current table takes the room left, its name cut to fit (down to tableMin columns).
	if label, t := currentTable(p); t != nil && len(parts) == all {
		what := Percent(t.Percent)
		if t.Percent == nil {
			what = Compact(float64(t.RowsRead)) + " rows"
		}
		const tableMin = 12
		room := n - used() - len(gap) - len(label) - len(what) - 2
		if name := clean(t.Table); room >= min(cells(name), tableMin) {
			parts = append(parts, part{text: label + " " + truncate(name, room) + " " + what})
		}
	}
	return truncate(head+" ["+bar(frac, barW)+"] "+join(parts, gap), n)
}

// bar draws frac (0..1) of n columns: "=====>    ".
func bar(frac float64, n int) string {
	frac = min(max(frac, 0), 1)
	full := int(frac * float64(n))
	if full >= n {
		return strings.Repeat("=", n)
	}
	return strings.Repeat("=", full) + ">" + strings.Repeat(" ", n-full-1)
}

// currentTable picks the table to show: the one being read, or the slowest of those being
// read (the lowest percent; unknown counts lowest), or else the next to read.
func currentTable(p *status.SnapshotProgress) (string, *status.TableProgress) {
	var cur *status.TableProgress
	reading := 0
	pct := func(t *status.TableProgress) float64 {
		if t.Percent == nil {
			return -1
		}
		return *t.Percent
	}
	for i := range p.Tables {
		t := &p.Tables[i]
		if t.State != status.TableReading {
			continue
		}
		reading++
		if cur == nil || pct(t) < pct(cur) {
			cur = t
		}
	}
	switch {
	case reading == 1:
		return "reading", cur
	case reading > 1:
		return "slowest", cur
	}
	for i := range p.Tables {
		if t := &p.Tables[i]; t.State == status.TablePending {
			return "next", t
		}
	}
	return "", nil
}

// LiveLine renders the running pipeline in one line:
//
//	running, incremental | 1.23k rows/s 456.1 KiB/s | latency p50 12ms p99 48ms (source clock +2.3s) | commit 12:00:09 | checkpoint 2s ago | error 5s ago: broker busy
func LiveLine(s status.Snapshot, width int) string {
	n := avail(width)
	head := s.Phase
	if head == "" {
		head = status.PhaseStarting
	}
	if s.Stage != "" && (s.Phase == status.PhaseRunning || s.Phase == status.PhaseStopping) {
		head += ", " + s.Stage
	}
	if w := s.Waiting; w != nil {
		head += " for " + w.For
		if w.Address != "" {
			head += " at " + w.Address
		}
		head += fmt.Sprintf(" (attempt %d, next in %s)", w.Attempt, max(w.NextAttemptAt.Sub(s.Now), 0).Round(time.Second))
	}
	parts := []part{{text: head, prio: 0}}
	if s.Phase != status.PhaseStarting && s.Phase != status.PhaseWaiting {
		rows := Compact(s.RowsPerSecond) + " rows/s"
		parts = append(parts, part{rows + " " + Bytes(s.BytesPerSecond) + "/s", 1, rows})
	}
	// The clock note stays with the latencies it qualifies.
	clock := ""
	if s.Latency.ClockSkewMs > 0 {
		clock = "(source clock +" + millis(s.Latency.ClockSkewMs) + ")"
	} else if s.Latency.ClockNote != "" {
		clock = "(clocks disagree)"
	} else if s.Latency.WholeSeconds {
		clock = "(whole-second commits)"
	}
	if s.Latency.Samples > 0 {
		lat := "p50 " + millis(s.Latency.P50Ms) + " p99 " + millis(s.Latency.P99Ms)
		if clock != "" {
			lat += " " + clock
		}
		parts = append(parts, part{"latency " + lat, 1, lat})
	} else if clock != "" {
		parts = append(parts, part{"latency " + clock, 1, ""})
	}
	if !s.LastCommitTime.IsZero() {
		layout := "15:04:05"
		if s.Now.Sub(s.LastCommitTime) > 20*time.Hour {
			layout = "2006-01-02 15:04:05"
		}
		parts = append(parts, part{text: "commit " + s.LastCommitTime.In(Location).Format(layout), prio: 3})
	}
	if !s.SavedAt.IsZero() {
		parts = append(parts, part{text: "checkpoint " + age(s.Now.Sub(s.SavedAt)) + " ago", prio: 5})
	}
	errText := ""
	if s.LastError != "" {
		errText = "error"
		if !s.LastErrorAt.IsZero() {
			errText += " " + age(s.Now.Sub(s.LastErrorAt)) + " ago"
		}
		errText += ": " + clean(s.LastError)
	}
	// The error comes last. It is worth more than the commit time and the checkpoint's age:
	// they go before it is cut; then it is cut to the room left, down to errMin columns.
	const errMin = 24
	need := func(errW int) int {
		w := cells(join(parts, sep))
		if errText != "" {
			w += len(sep) + errW
		}
		return w
	}
	for len(parts) > 1 && need(cells(errText)) > n && worstPrio(parts) >= 3 {
		parts = shrink(parts)
	}
	for len(parts) > 1 && need(min(cells(errText), errMin)) > n {
		parts = shrink(parts)
	}
	line := join(parts, sep)
	if errText != "" {
		line += sep + truncate(errText, max(n-cells(line)-len(sep), errMin))
	}
	return truncate(line, n)
}

// SnapshotDone is the line left on the screen when the snapshot is done; took is how long
// it took in this run (0: unknown).
func SnapshotDone(p *status.SnapshotProgress, took time.Duration, width int) string {
	line := "snapshot done: " + Count(int64(p.TablesTotal)) + " tables, " + Count(p.RowsRead) + " rows"
	if took > 0 {
		line += " in " + Duration(took)
	}
	return truncate(line, avail(width))
}

func join(parts []part, sep string) string {
	ss := make([]string, len(parts))
	for i, p := range parts {
		ss[i] = p.text
	}
	return strings.Join(ss, sep)
}

func worstPrio(parts []part) int {
	w := 0
	for _, p := range parts {
		w = max(w, p.prio)
	}
	return w
}

// shrink makes parts shorter: it drops a part of prio 2 or more, else shortens a part that
// has a short form (the last first), else drops one.
func shrink(parts []part) []part {
	if worstPrio(parts) < 2 {
		for i := len(parts) - 1; i >= 0; i-- {
			if parts[i].short != "" {
				parts[i].text, parts[i].short = parts[i].short, ""
				return parts
			}
		}
	}
	return drop(parts)
}

// drop removes the part of the highest prio (the last of equals).
func drop(parts []part) []part {
	worst := 0
	for i, p := range parts {
		if p.prio >= parts[worst].prio {
			worst = i
		}
	}
	return append(parts[:worst:worst], parts[worst+1:]...)
}
