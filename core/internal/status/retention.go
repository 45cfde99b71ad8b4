package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Retention is the local change store's part of /status (retention block on).
type Retention struct {
	Dir string `json:"dir"`
	// Oldest and Newest are the commit times of the oldest and the newest retained change:
	// the window a rewind may go back into.
	Oldest time.Time `json:"oldest_commit_time,omitzero"`
	Newest time.Time `json:"newest_commit_time,omitzero"`
	// Records (source batches), Changes and Bytes are what the store retains; MaxBytes its
	// bound; DiskBytes the size of its files.
	Records   uint64 `json:"records"`
	Changes   uint64 `json:"changes"`
	Bytes     int64  `json:"bytes"`
	MaxBytes  int64  `json:"max_bytes"`
	DiskBytes int64  `json:"disk_bytes"`
	// Lead* is how far the reader is ahead of the writer: stored, not yet delivered (the
	// writer's saved checkpoint).
	LeadRecords uint64 `json:"lead_records"`
	LeadChanges uint64 `json:"lead_changes"`
	LeadBytes   int64  `json:"lead_bytes"`
	// SourcePosition is where the reader is (hex), SourcePositionText as the source
	// describes it.
	SourcePosition     string `json:"source_position,omitempty"`
	SourcePositionText string `json:"source_position_text,omitempty"`
	// Waiting says why the reader waits (max_bytes reached, disk full); empty when it reads.
	Waiting string `json:"waiting,omitempty"`
	// LastRewind is the last rewind (nil: none).
	LastRewind *RewindResponse `json:"last_rewind,omitempty"`
}

// RetentionFunc returns the store's figures.
type RetentionFunc func() *Retention

// RewindFunc rewinds the running pipeline's writer to the first change committed at or
// after to; the error of a time outside the window shows the window.
type RewindFunc func(ctx context.Context, to time.Time) (RewindResponse, error)

// RewindRequest is the body of POST /rewind.
type RewindRequest struct {
	Pipeline string    `json:"pipeline,omitempty"`
	To       time.Time `json:"to"`
}

// RewindResponse is the answer of POST /rewind.
type RewindResponse struct {
	Pipeline string    `json:"pipeline"`
	To       time.Time `json:"to"`
	// Record is the store record the writer restarts at, Skip the changes of it skipped
	// (committed before To); ReplayUntil the first record that was not delivered before.
	Record      uint64    `json:"record,omitempty"`
	Skip        int       `json:"skip,omitempty"`
	ReplayUntil uint64    `json:"replay_until,omitempty"`
	At          time.Time `json:"at,omitzero"`
	Error       string    `json:"error,omitempty"`
}

// SetRetention makes /status and /metrics report the store.
func (t *Tracker) SetRetention(f RetentionFunc) {
	if f == nil || !t.retention.CompareAndSwap(nil, &f) {
		return
	}
	labels := prometheus.Labels{"pipeline": t.name}
	gauge := func(name, help string, v func(r *Retention) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, func() float64 {
			if r := f(); r != nil {
				return v(r)
			}
			return 0
		})
	}
	t.registry.MustRegister(
		gauge("ferry_retention_oldest_commit_timestamp_seconds", "Commit time of the oldest retained change (Unix time).", func(r *Retention) float64 { return unix(r.Oldest) }),
		gauge("ferry_retention_newest_commit_timestamp_seconds", "Commit time of the newest retained change (Unix time).", func(r *Retention) float64 { return unix(r.Newest) }),
		gauge("ferry_retention_records", "Source batches the store retains.", func(r *Retention) float64 { return float64(r.Records) }),
		gauge("ferry_retention_changes", "Changes the store retains.", func(r *Retention) float64 { return float64(r.Changes) }),
		gauge("ferry_retention_bytes", "Bytes the store retains (encoded records).", func(r *Retention) float64 { return float64(r.Bytes) }),
		gauge("ferry_retention_disk_bytes", "Bytes of the store's files.", func(r *Retention) float64 { return float64(r.DiskBytes) }),
		gauge("ferry_retention_lead_changes", "Changes the reader stored that the writer has not delivered.", func(r *Retention) float64 { return float64(r.LeadChanges) }),
		gauge("ferry_retention_lead_bytes", "Bytes the reader stored that the writer has not delivered.", func(r *Retention) float64 { return float64(r.LeadBytes) }),
		gauge("ferry_retention_reader_waiting", "1 while the reader waits for room in the store (max_bytes, disk).", func(r *Retention) float64 {
			if r.Waiting != "" {
				return 1
			}
			return 0
		}),
	)
}

func (t *Tracker) retentionStatus() *Retention {
	if f := t.retention.Load(); f != nil {
		return (*f)()
	}
	return nil
}

// SetRewind sets what POST /rewind calls; without it the endpoint answers 503.
func (t *Tracker) SetRewind(f RewindFunc) {
	if f == nil {
		t.rewind.Store(nil)
		return
	}
	t.rewind.Store(&f)
}

// ErrRewindRefused marks a rewind the store refuses (a time outside the window).
var ErrRewindRefused = errors.New("rewind refused")

func (t *Tracker) serveRewind(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, resp RewindResponse) {
		resp.Pipeline = t.name
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(resp)
	}
	var req RewindRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	switch {
	case err != nil:
		reply(http.StatusBadRequest, RewindResponse{Error: "bad request body: " + err.Error()})
		return
	case req.Pipeline != "" && req.Pipeline != t.name:
		reply(http.StatusConflict, RewindResponse{Error: fmt.Sprintf("this is pipeline %q, not %q", t.name, req.Pipeline)})
		return
	case req.To.IsZero():
		reply(http.StatusBadRequest, RewindResponse{Error: "no time to rewind to"})
		return
	}
	fp := t.rewind.Load()
	if fp == nil {
		reply(http.StatusServiceUnavailable, RewindResponse{To: req.To, Error: "the pipeline takes no rewind now (no retention block, starting, or stopping)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	resp, err := (*fp)(ctx, req.To)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, ErrRewindRefused) {
			code = http.StatusUnprocessableEntity
		}
		reply(code, RewindResponse{To: req.To, Error: err.Error()})
		return
	}
	reply(http.StatusOK, resp)
}
