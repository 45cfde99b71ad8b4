package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/sdk"
)

// EtcdStore is the `etcd` shared store. A pipeline's keys live under <prefix><name>/:
//
//	owner       the holder (Owner as JSON), attached to the holder's etcd lease: etcd deletes
//	            it when the lease expires
//	epoch       a counter raised by every acquisition (no lease)
//	checkpoint  the checkpoint, in the checkpoint file's format (checksummed JSON)
//	state/<key> the source's durable state
//
// Every write (checkpoint, state) is a transaction that compares the owner key's lease with
// this process's lease and the epoch with the one it took: once the lease expired (or was
// taken by another process) no write of this process can land.
type EtcdStore struct {
	cli     *clientv3.Client
	cfg     SharedConfig
	base    string
	timeout time.Duration

	mu    sync.Mutex
	lease clientv3.LeaseID
	epoch string
	owner string // the holder's Owner as JSON
}

func openEtcd(ctx context.Context, cfg SharedConfig) (*EtcdStore, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd checkpoint store: no endpoints")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		Username:             cfg.User,
		Password:             cfg.Password,
		DialTimeout:          cfg.Timeout,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
		Context:              context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd checkpoint store %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return &EtcdStore{cli: cli, cfg: cfg, base: cfg.etcdBase(), timeout: cfg.Timeout}, nil
}

// Describe implements Shared.
func (s *EtcdStore) Describe() string { return s.cfg.Describe() }

func (s *EtcdStore) key(k string) string { return s.base + k }

func (s *EtcdStore) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

func (s *EtcdStore) wrap(what string, err error) error {
	return fmt.Errorf("etcd checkpoint store %s: %s: %w", strings.Join(s.cfg.Endpoints, ","), what, err)
}

// held returns the lease and epoch this process holds (0 when none).
func (s *EtcdStore) held() (clientv3.LeaseID, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lease, s.epoch
}

// guard is the comparison every write of the holder carries.
func (s *EtcdStore) guard() ([]clientv3.Cmp, error) {
	lease, epoch := s.held()
	if lease == 0 {
		return nil, fmt.Errorf("%w: the lease is not held", ErrFenced)
	}
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.LeaseValue(s.key("owner")), "=", lease),
		clientv3.Compare(clientv3.Value(s.key("epoch")), "=", epoch),
	}, nil
}

func (s *EtcdStore) fencedTxn(ctx context.Context, what string, ops ...clientv3.Op) error {
	cmp, err := s.guard()
	if err != nil {
		return err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(cmp...).Then(ops...).Commit()
	if err != nil {
		return s.wrap(what, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%s in %s: %w: the store holds another lease or epoch", what, s.Describe(), ErrFenced)
	}
	return nil
}

// Load implements Store.
func (s *EtcdStore) Load(ctx context.Context, pipeline string) (*Checkpoint, error) {
	if pipeline != s.cfg.Pipeline {
		return nil, fmt.Errorf("etcd checkpoint store of pipeline %q asked for %q", s.cfg.Pipeline, pipeline)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key("checkpoint"))
	if err != nil {
		return nil, s.wrap("load checkpoint", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return decodeFile("etcd key "+s.key("checkpoint"), pipeline, resp.Kvs[0].Value)
}

// Save implements Store: fenced by the lease and the epoch.
func (s *EtcdStore) Save(ctx context.Context, cp *Checkpoint) error {
	if cp.Pipeline != s.cfg.Pipeline {
		return fmt.Errorf("etcd checkpoint store of pipeline %q asked to save %q", s.cfg.Pipeline, cp.Pipeline)
	}
	data, err := encodeFile(cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	return s.fencedTxn(ctx, "save checkpoint", clientv3.OpPut(s.key("checkpoint"), string(data)))
}

// Close implements Store.
func (s *EtcdStore) Close() error { return s.cli.Close() }

// TryAcquire implements Shared.
func (s *EtcdStore) TryAcquire(ctx context.Context, o Owner, ttl time.Duration) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	sec := int64(math.Ceil(ttl.Seconds()))
	// Refuse a busy lease before granting one of our own.
	cur, err := s.cli.Get(ctx, s.key("owner"))
	if err != nil {
		return s.wrap("read the lease holder", err)
	}
	if len(cur.Kvs) > 0 {
		return fmt.Errorf("%w: %s", ErrLeaseHeld, ownerText(cur.Kvs[0].Value))
	}
	ep, err := s.cli.Get(ctx, s.key("epoch"))
	if err != nil {
		return s.wrap("read the epoch", err)
	}
	var epoch uint64
	var epochRev int64
	if len(ep.Kvs) > 0 {
		epoch, _ = strconv.ParseUint(string(ep.Kvs[0].Value), 10, 64)
		epochRev = ep.Kvs[0].ModRevision
	}
	g, err := s.cli.Grant(ctx, sec)
	if err != nil {
		return s.wrap("grant a lease", err)
	}
	if o.Since.IsZero() {
		o.Since = time.Now().UTC()
	}
	owner, _ := json.Marshal(o)
	next := strconv.FormatUint(epoch+1, 10)
	resp, err := s.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(s.key("owner")), "=", 0),
		clientv3.Compare(clientv3.ModRevision(s.key("epoch")), "=", epochRev),
	).Then(
		clientv3.OpPut(s.key("owner"), string(owner), clientv3.WithLease(g.ID)),
		clientv3.OpPut(s.key("epoch"), next),
	).Else(clientv3.OpGet(s.key("owner"))).Commit()
	if err != nil || !resp.Succeeded {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		_, _ = s.cli.Revoke(rctx, g.ID)
		rcancel()
		if err != nil {
			return s.wrap("take the lease", err)
		}
		holder := "another process"
		if r := resp.Responses; len(r) > 0 && len(r[0].GetResponseRange().Kvs) > 0 {
			holder = ownerText(r[0].GetResponseRange().Kvs[0].Value)
		}
		return fmt.Errorf("%w: %s", ErrLeaseHeld, holder)
	}
	s.mu.Lock()
	s.lease, s.epoch, s.owner = g.ID, next, string(owner)
	s.mu.Unlock()
	return nil
}

func ownerText(b []byte) string {
	var o Owner
	if json.Unmarshal(b, &o) != nil {
		return "another process"
	}
	return o.String()
}

// Renew implements Shared. When etcd no longer knows the lease (it expired while this
// process could not reach etcd), the lease is taken back only when nobody acquired it
// meanwhile (the epoch is still this process's); else the lease is lost.
func (s *EtcdStore) Renew(ctx context.Context, ttl time.Duration) error {
	lease, epoch := s.held()
	if lease == 0 {
		return fmt.Errorf("%w: not held", ErrLeaseLost)
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.cli.KeepAliveOnce(ctx, lease)
	if err == nil {
		return nil
	}
	if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return s.wrap("renew the lease", err)
	}
	sec := int64(math.Ceil(ttl.Seconds()))
	g, err := s.cli.Grant(ctx, sec)
	if err != nil {
		return s.wrap("grant a lease", err)
	}
	s.mu.Lock()
	owner := s.owner
	s.mu.Unlock()
	resp, err := s.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(s.key("owner")), "=", 0),
		clientv3.Compare(clientv3.Value(s.key("epoch")), "=", epoch),
	).Then(clientv3.OpPut(s.key("owner"), owner, clientv3.WithLease(g.ID))).Commit()
	if err != nil || !resp.Succeeded {
		_, _ = s.cli.Revoke(ctx, g.ID)
		if err != nil {
			return s.wrap("take the lease back", err)
		}
		s.mu.Lock()
		s.lease = 0
		s.mu.Unlock()
		return fmt.Errorf("%w: it expired and another process took it (epoch %s is no longer current)", ErrLeaseLost, epoch)
	}
	s.mu.Lock()
	s.lease = g.ID
	s.mu.Unlock()
	return nil
}

// Release implements Shared: revoking the lease deletes the owner key.
func (s *EtcdStore) Release(ctx context.Context) error {
	lease, _ := s.held()
	if lease == 0 {
		return nil
	}
	s.mu.Lock()
	s.lease = 0
	s.mu.Unlock()
	ctx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return s.wrap("release the lease", err)
	}
	return nil
}

// Holder implements Shared.
func (s *EtcdStore) Holder(ctx context.Context) (*Owner, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key("owner"))
	if err != nil {
		return nil, s.wrap("read the lease holder", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	var o Owner
	if err := json.Unmarshal(resp.Kvs[0].Value, &o); err != nil {
		return nil, nil
	}
	return &o, nil
}

// State implements Shared.
func (s *EtcdStore) State() sdk.StateStore { return etcdState{s} }

type etcdState struct{ s *EtcdStore }

func (e etcdState) key(k string) string { return e.s.key("state/" + k) }

func (e etcdState) Get(ctx context.Context, key string) ([]byte, error) {
	if err := stateKeyOK(key); err != nil {
		return nil, err
	}
	ctx, cancel := e.s.op(ctx)
	defer cancel()
	resp, err := e.s.cli.Get(ctx, e.key(key))
	if err != nil {
		return nil, e.s.wrap("read state "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}

func (e etcdState) Put(ctx context.Context, key string, value []byte) error {
	if err := stateKeyOK(key); err != nil {
		return err
	}
	return e.s.fencedTxn(ctx, "write state "+key, clientv3.OpPut(e.key(key), string(value)))
}

func (e etcdState) Delete(ctx context.Context, key string) error {
	if err := stateKeyOK(key); err != nil {
		return err
	}
	return e.s.fencedTxn(ctx, "delete state "+key, clientv3.OpDelete(e.key(key)))
}

func (e etcdState) List(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := e.s.op(ctx)
	defer cancel()
	base := e.key("")
	resp, err := e.s.cli.Get(ctx, base+prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, e.s.wrap("list state", err)
	}
	out := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), base))
	}
	return out, nil
}

var _ Shared = (*EtcdStore)(nil)
