// Package console draws the status of `ferry run` on a terminal: a progress bar while the
// snapshot is read, then a one-line live view (phase, throughput, latency, commit time, last
// error), redrawn in place. Logs written through Writer are printed above the line without
// garbling it. It draws only on a terminal; the caller decides with IsTerminal.
package console

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/ferry-cdc/ferry/core/internal/status"
)

// Interval is how often the line is redrawn.
const Interval = 250 * time.Millisecond

const (
	clearLine = "\r\x1b[K" // to the start of the line, and erase it
	eraseRest = "\x1b[K"   // erase from the cursor to the end of the line
)

// IsTerminal reports whether f is a terminal the console can draw on (not a file or pipe,
// nor a terminal that declares it cannot move the cursor: TERM=dumb).
func IsTerminal(f *os.File) bool {
	return f != nil && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// Console draws a tracker's status on a terminal. Create it with New, route logs through
// Writer, then Start; Stop leaves the last line on the screen.
type Console struct {
	out      io.Writer
	width    func() int
	interval time.Duration

	drawMu sync.Mutex // serializes Redraw

	srcMu    sync.Mutex
	tracker  *status.Tracker
	snapshot func() (status.Snapshot, bool) // for tests; else the tracker's

	mu       sync.Mutex
	running  bool
	frame    string // the line to show (redrawn after each log write)
	drawn    bool   // frame is on the screen, the cursor at its end
	midLine  bool   // a write did not end with a newline: the cursor is in its text
	barSince time.Time
	lastProg *status.SnapshotProgress // the snapshot last drawn as a bar

	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a console drawing on w (the terminal, usually os.Stderr) the status of t. t may
// be nil and set later with SetTracker (so that logs can be routed through Writer before the
// tracker exists). The width is the terminal's when w is one (*os.File), else 80 columns.
func New(w io.Writer, t *status.Tracker) *Console {
	c := &Console{out: w, tracker: t, interval: Interval, width: func() int { return 80 }}
	if f, ok := w.(*os.File); ok {
		fd := int(f.Fd())
		c.width = func() int {
			if w, _, err := term.GetSize(fd); err == nil && w > 0 {
				return w
			}
			return 80
		}
	}
	return c
}

// SetTracker sets the tracker whose status is drawn.
func (c *Console) SetTracker(t *status.Tracker) {
	c.srcMu.Lock()
	defer c.srcMu.Unlock()
	c.tracker = t
}

func (c *Console) status() (status.Snapshot, bool) {
	c.srcMu.Lock()
	t, f := c.tracker, c.snapshot
	c.srcMu.Unlock()
	switch {
	case f != nil:
		return f()
	case t != nil:
		return t.Snapshot(), true
	}
	return status.Snapshot{}, false
}

// Start draws until Stop (or until ctx ends) and starts the tracker's sampling
// (status.Tracker.Start, which does nothing when it already runs). Only the first call
// starts drawing.
func (c *Console) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running || c.done != nil {
		return
	}
	c.srcMu.Lock()
	t := c.tracker
	c.srcMu.Unlock()
	if t != nil {
		t.Start(ctx)
	}
	ctx, c.cancel = context.WithCancel(ctx)
	c.running, c.done = true, make(chan struct{})
	go c.loop(ctx)
}

func (c *Console) loop(ctx context.Context) {
	defer close(c.done)
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		c.Redraw()
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// Stop stops drawing and leaves the last line on the screen, followed by a newline; later
// writes to Writer go straight to the terminal. It may be called more than once.
func (c *Console) Stop() {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	c.Redraw()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return
	}
	c.running = false
	if c.drawn {
		_, _ = io.WriteString(c.out, "\n")
		c.drawn = false
	}
}

// Redraw renders the current status and draws it if it changed. The loop calls it every
// Interval.
func (c *Console) Redraw() {
	// One redraw at a time, from reading the status to writing the frame: a redraw that read
	// an older status must not draw after a newer one. Not c.mu: reading the status may log,
	// and logs take c.mu (they never redraw, so drawMu cannot deadlock with them).
	c.drawMu.Lock()
	defer c.drawMu.Unlock()
	s, ok := c.status() // not under c.mu: the tracker may log, and logs take c.mu
	if !ok {
		return
	}
	width := c.width()
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return
	}
	var out []byte
	if Snapshotting(s) {
		if c.lastProg == nil {
			c.barSince = now
		}
		c.lastProg = s.Snapshot
	} else if c.lastProg != nil {
		// The snapshot just ended: leave its summary above the live line.
		p := c.lastProg
		if s.Snapshot != nil {
			p = s.Snapshot
		}
		if c.drawn {
			out = append(out, clearLine...)
		} else if c.midLine {
			out = append(out, '\n')
			c.midLine = false
		}
		out = append(out, SnapshotDone(p, now.Sub(c.barSince), width)+"\n"...)
		c.drawn, c.lastProg = false, nil
	}
	line := Frame(s, width)
	if c.midLine || (c.drawn && line == c.frame) {
		c.frame = line
		if len(out) > 0 {
			_, _ = c.out.Write(out)
		}
		return
	}
	c.frame = line
	out = append(out, '\r')
	out = append(out, line...)
	out = append(out, eraseRest...)
	_, _ = c.out.Write(out)
	c.drawn = true
}

// Writer returns a writer for logs (zap's output): while the console draws, each write
// erases the line, writes its text and draws the line again below it. A write that does
// not end with a newline leaves the line undrawn until one does.
func (c *Console) Writer() io.Writer { return logWriter{c} }

type logWriter struct{ c *Console }

func (w logWriter) Write(p []byte) (int, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running || len(p) == 0 {
		return c.out.Write(p)
	}
	buf := make([]byte, 0, len(clearLine)+len(p)+len(c.frame)+len(eraseRest))
	if c.drawn {
		buf = append(buf, clearLine...)
		c.drawn = false
	}
	buf = append(buf, p...)
	c.midLine = p[len(p)-1] != '\n'
	if !c.midLine && c.frame != "" {
		buf = append(buf, c.frame...)
		buf = append(buf, eraseRest...)
		c.drawn = true
	}
	if _, err := c.out.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
