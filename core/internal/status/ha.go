package status

import (
	"net/http"
	"time"
)

// PhaseStandby: the pipeline's checkpoint store is shared and another process holds the
// lease; this one waits to take over (Snapshot.Lease says who is active).
const PhaseStandby = "standby"

// Roles of a process in Lease.Role.
const (
	RoleActive  = "active"
	RoleStandby = "standby"
)

// Lease is the pipeline lease in a shared checkpoint store as /status reports it.
type Lease struct {
	// Store names the store (kind and endpoints; never credentials).
	Store string `json:"store"`
	// Role is RoleActive or RoleStandby.
	Role string `json:"role"`
	// Holder is the active process ("pid 42 on host-a, file ..., since ...") as a standby
	// sees it; empty when unknown.
	Holder string `json:"holder,omitempty"`
	// LeaseTime is the configured lease time in seconds.
	LeaseTime float64 `json:"lease_time_seconds"`
	// FencedUntil is, on the active, the deadline its writes stop at unless the lease is
	// renewed (zero on a standby).
	FencedUntil time.Time `json:"fenced_until,omitzero"`
	// Error is the store's last error as this process saw it (redacted), if any.
	Error string `json:"error,omitempty"`
	// Since is when the role began.
	Since time.Time `json:"since"`
	// Deadline, when set, is called for FencedUntil at every snapshot.
	Deadline func() time.Time `json:"-"`
}

// SetLease reports the process's lease in a shared checkpoint store (nil: none). A standby
// lease also sets the phase to PhaseStandby.
func (t *Tracker) SetLease(l *Lease) {
	if l == nil {
		t.lease.Store(nil)
		return
	}
	c := *l
	if c.Since.IsZero() {
		c.Since = time.Now().UTC()
	}
	t.lease.Store(&c)
	if c.Role == RoleStandby {
		t.SetPhase(PhaseStandby)
	}
}

func (t *Tracker) leaseStatus() *Lease {
	l := t.lease.Load()
	if l == nil {
		return nil
	}
	c := *l
	if c.Deadline != nil && c.Role == RoleActive {
		c.FencedUntil = c.Deadline()
	}
	return &c
}

// serveReady is /readyz: 200 only while the pipeline runs and, with a shared checkpoint
// store, this process is the active one (holds the lease and may send); 503 with the phase
// otherwise (standby, starting, stopping, failed). Kubernetes routes to, and counts as
// available, only the ready one.
func (t *Tracker) serveReady(w http.ResponseWriter, _ *http.Request) {
	if ok, why := t.active(); !ok {
		http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok: active\n"))
}

// active reports whether this process runs the pipeline and may send: running and, with a
// shared checkpoint store, the lease holder with its fence open; else why not.
func (t *Tracker) active() (bool, string) {
	p := t.Phase()
	if p != PhaseRunning {
		return false, p
	}
	if l := t.leaseStatus(); l != nil {
		if l.Role != RoleActive {
			return false, l.Role
		}
		if !l.FencedUntil.IsZero() && !time.Now().Before(l.FencedUntil) {
			return false, "the lease was not renewed (writes are fenced)"
		}
	}
	return true, ""
}
