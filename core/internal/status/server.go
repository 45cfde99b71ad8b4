package status

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Handler serves /status (JSON), /metrics (Prometheus), /healthz, /readyz (200 only on the
// active process: see serveReady) and POST /snapshot (a re-snapshot request, see
// SetResnapshot).
func (t *Tracker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(t.Snapshot())
	})
	mux.HandleFunc("POST /snapshot", t.serveResnapshot)
	mux.HandleFunc("POST /rewind", t.serveRewind)
	mux.Handle("GET /metrics", promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if p := t.Phase(); p == PhaseFailed {
			http.Error(w, p, http.StatusServiceUnavailable)
			return
		}
		if t.Phase() == PhaseStandby {
			_, _ = w.Write([]byte("ok: standby\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", t.serveReady)
	if os.Getenv("FERRY_PPROF") == "1" {
		// Go's profiles on the status address, for a profile of a running pipeline (CPU,
		// heap in use, goroutines); off unless asked for: they show code, not data.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	}
	return mux
}

// Run serves the handler on addr until ctx ends and starts the tracker's sampling (Start)
// if it is not running yet; log becomes the tracker's logger unless SetLogger set one. It
// returns the address it listens on once listening, or the listen error.
func (t *Tracker) Run(ctx context.Context, addr string, log *zap.Logger) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: t.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("status server stopped", zap.Error(err))
		}
	}()
	if t.log.Load() == nil {
		t.SetLogger(log)
	}
	t.Start(ctx)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), nil
}
