package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

var (
	// ErrFenced is returned by a shared store's Save, and by its state store's Put and
	// Delete, when this process does not hold the pipeline's lease (any more): another
	// process may be active, and a late write must not reach the store.
	ErrFenced = errors.New("not the holder of the pipeline lease (fenced)")
	// ErrLeaseLost is the cause a Session reports when another process took the lease (or
	// the store says it is gone and cannot be taken back): this process must stop writing and
	// go back to standby.
	ErrLeaseLost = errors.New("pipeline lease lost")
)

// Shared is a checkpoint store that several processes of one pipeline share, on different
// machines: it keeps the checkpoint, the source's durable state and the pipeline's lease in
// one place, and refuses a checkpoint save or a state write from a process that does not
// hold the lease (ErrFenced). The lease is taken and kept through a Session.
//
// A Shared store serves one pipeline (the one of its Session).
type Shared interface {
	Store
	// State returns the source's durable state store (sdk.OpenRequest.State) in the shared
	// store. Its Put and Delete are fenced like Save.
	State() sdk.StateStore
	// Describe names the store for logs and status (kind and endpoints, never credentials).
	Describe() string

	// TryAcquire takes the lease for ttl if no live holder has it. When another process holds
	// it, it returns an error wrapping ErrLeaseHeld and the holder. On success the store's
	// Save and state writes are allowed until the lease ends.
	TryAcquire(ctx context.Context, o Owner, ttl time.Duration) error
	// Renew extends the held lease by ttl from now (as the store counts time). It returns an
	// error wrapping ErrLeaseLost when another process acquired the lease since this one took
	// it; other errors (the store cannot be reached) may pass.
	Renew(ctx context.Context, ttl time.Duration) error
	// Release gives the held lease up, so a standby takes over at once.
	Release(ctx context.Context) error
	// Holder returns the current live holder, or nil when there is none.
	Holder(ctx context.Context) (*Owner, error)
}

// SharedConfig is the `checkpoint` block's settings for a shared store.
type SharedConfig struct {
	// Kind is "etcd" or "mysql".
	Kind string
	// Pipeline is the pipeline's name.
	Pipeline string
	// Endpoints are the etcd endpoints (host:port or URLs).
	Endpoints []string
	// Address is the MySQL-protocol server (host:port).
	Address string
	// User and Password are the credentials (optional for etcd).
	User, Password string
	// Database and Table name the mysql store's table (the state table is Table + "_state").
	Database, Table string
	// Prefix is the etcd key prefix (the pipeline's keys are Prefix + name + "/...").
	Prefix string
	// Timeout bounds one request to the store (connect included).
	Timeout time.Duration
}

// etcdBase is the key prefix of the pipeline's keys in an etcd store.
func (c SharedConfig) etcdBase() string {
	prefix := c.Prefix
	if prefix == "" {
		prefix = "/ferry/"
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix + c.Pipeline + "/"
}

// mysqlTable is the mysql store's table (default ferry_checkpoints).
func (c SharedConfig) mysqlTable() string {
	if c.Table == "" {
		return "ferry_checkpoints"
	}
	return c.Table
}

// Describe names the store for logs and status, as its Describe will once it is open:
// kind and endpoints, never credentials.
func (c SharedConfig) Describe() string {
	if c.Kind == "etcd" {
		return fmt.Sprintf("etcd %s, keys %s", strings.Join(c.Endpoints, ","), c.etcdBase())
	}
	return fmt.Sprintf("%s %s, table %s.%s", c.Kind, c.Address, c.Database, c.mysqlTable())
}

// OpenShared connects to the shared store that cfg names.
func OpenShared(ctx context.Context, cfg SharedConfig) (Shared, error) {
	if err := ValidateName(cfg.Pipeline); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	switch cfg.Kind {
	case "etcd":
		return openEtcd(ctx, cfg)
	case "mysql":
		return openMySQL(ctx, cfg)
	}
	return nil, fmt.Errorf("unknown checkpoint store %q (want file, etcd or mysql)", cfg.Kind)
}

// stateKeyOK checks a state key as sdk.DirState does: 1..200 characters of [a-z0-9._-] and
// '/', no empty, "." or ".." segment.
func stateKeyOK(key string) error {
	if len(key) == 0 || len(key) > 200 {
		return fmt.Errorf("state key %q: must be 1 to 200 characters", key)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return fmt.Errorf("state key %q: use only a-z, 0-9, '.', '_', '-' and '/'", key)
		}
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			if seg := key[start:i]; seg == "" || seg == "." || seg == ".." {
				return fmt.Errorf("state key %q: empty, \".\" or \"..\" segment", key)
			}
			start = i + 1
		}
	}
	return nil
}
