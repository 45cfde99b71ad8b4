package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

// ResnapshotFunc applies a re-snapshot request to the running pipeline (`ferry snapshot`):
// it returns once the source has the tables' new snapshots in force, or why not.
type ResnapshotFunc func(ctx context.Context, tables []string) error

// ResnapshotRequest is the body of POST /snapshot.
type ResnapshotRequest struct {
	// Pipeline, when set, must be the name of the pipeline that serves the request (so a
	// request sent to the wrong address is refused).
	Pipeline string `json:"pipeline,omitempty"`
	// Tables are the "db.table" names to snapshot again.
	Tables []string `json:"tables"`
}

// ResnapshotResponse is the answer of POST /snapshot.
type ResnapshotResponse struct {
	Pipeline string   `json:"pipeline"`
	Tables   []string `json:"tables,omitempty"`
	// Error says why the request was refused (empty when it was applied).
	Error string `json:"error,omitempty"`
}

// resnapshotTimeout bounds one request: the source applies it at a transaction boundary.
const resnapshotTimeout = 2 * time.Minute

// SetResnapshot sets what POST /snapshot calls; without it the endpoint answers 503 (the
// pipeline cannot take requests yet, or at all).
func (t *Tracker) SetResnapshot(f ResnapshotFunc) {
	if f == nil {
		t.resnap.Store(nil)
		return
	}
	t.resnap.Store(&f)
}

func (t *Tracker) serveResnapshot(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, resp ResnapshotResponse) {
		resp.Pipeline = t.name
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(resp)
	}
	var req ResnapshotRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	switch {
	case err != nil:
		reply(http.StatusBadRequest, ResnapshotResponse{Error: "bad request body: " + err.Error()})
		return
	case req.Pipeline != "" && req.Pipeline != t.name:
		reply(http.StatusConflict, ResnapshotResponse{Error: fmt.Sprintf("this is pipeline %q, not %q", t.name, req.Pipeline)})
		return
	case len(req.Tables) == 0:
		reply(http.StatusBadRequest, ResnapshotResponse{Error: "no table named"})
		return
	}
	fp := t.resnap.Load()
	if fp == nil {
		reply(http.StatusServiceUnavailable, ResnapshotResponse{Tables: req.Tables, Error: "the pipeline takes no re-snapshot request now (starting, or stopping)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), resnapshotTimeout)
	defer cancel()
	if err := (*fp)(ctx, req.Tables); err != nil {
		code := http.StatusUnprocessableEntity
		switch {
		case errors.Is(err, sdk.ErrNotSupported):
			code = http.StatusNotImplemented
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			code = http.StatusServiceUnavailable
		}
		reply(code, ResnapshotResponse{Tables: req.Tables, Error: err.Error()})
		return
	}
	reply(http.StatusOK, ResnapshotResponse{Tables: req.Tables})
}
