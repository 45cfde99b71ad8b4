package protocol

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The source's optional table abilities: sdk.TableLister, sdk.TableSelector and
// sdk.ProgressReporter. Each is a unary call, advertised by a capability; the host-side
// sourceClient implements all three and answers for a plugin without the capability (an
// error wrapping sdk.ErrNotSupported, or no progress) without calling it.

// The host's adapter has every ability, whatever the plugin has.
var (
	_ sdk.TableLister      = (*sourceClient)(nil)
	_ sdk.TableSelector    = (*sourceClient)(nil)
	_ sdk.ProgressReporter = (*sourceClient)(nil)
)

// ---- plugin side ----

// ListTables calls the source's sdk.TableLister.
func (s *sourceServer) ListTables(ctx context.Context, req *pb.ListTablesRequest) (*pb.ListTablesResponse, error) {
	l, ok := s.impl.(sdk.TableLister)
	if !ok {
		return &pb.ListTablesResponse{Error: errorToPB(s.notSupported("sdk.TableLister"))}, nil
	}
	tables, err := l.ListTables(ctx, req.Include)
	return &pb.ListTablesResponse{Tables: listedTablesToPB(tables), Error: errorToPB(err)}, nil
}

// SetTables calls the source's sdk.TableSelector. gRPC serves it on its own goroutine, so it
// runs concurrently with the Read stream, as the interface allows.
func (s *sourceServer) SetTables(ctx context.Context, req *pb.SetTablesRequest) (*pb.SetTablesResponse, error) {
	ts, ok := s.impl.(sdk.TableSelector)
	if !ok {
		return &pb.SetTablesResponse{Error: errorToPB(s.notSupported("sdk.TableSelector"))}, nil
	}
	err := ts.SetTables(ctx, sdk.TableSelection{Include: req.Include, Exclude: req.Exclude})
	return &pb.SetTablesResponse{Error: errorToPB(err)}, nil
}

// SnapshotProgress calls the source's sdk.ProgressReporter; a source without one has no
// progress to report.
func (s *sourceServer) SnapshotProgress(ctx context.Context, _ *pb.SnapshotProgressRequest) (*pb.SnapshotProgressResponse, error) {
	pr, ok := s.impl.(sdk.ProgressReporter)
	if !ok {
		return &pb.SnapshotProgressResponse{}, nil
	}
	ps, err := pr.SnapshotProgress(ctx)
	resp := &pb.SnapshotProgressResponse{Tables: make([]*pb.TableProgress, len(ps)), Error: errorToPB(err)}
	for i, p := range ps {
		resp.Tables[i] = &pb.TableProgress{Table: p.Table, RowsRead: p.RowsRead, RowsEstimated: p.RowsEstimated, Done: p.Done}
	}
	return resp, nil
}

// notSupported is the error of a call to an ability the served source does not have (only
// a host that ignores the capabilities makes one).
func (s *sourceServer) notSupported(iface string) error {
	return fmt.Errorf("source %q does not implement %s: %w", s.p.Info().Name, iface, sdk.ErrNotSupported)
}

func listedTablesToPB(ts []sdk.ListedTable) []*pb.ListedTable {
	if len(ts) == 0 {
		return nil
	}
	out := make([]*pb.ListedTable, len(ts))
	for i, t := range ts {
		m := &pb.ListedTable{Database: t.Database, Name: t.Name, Type: t.Type, Problem: t.Problem}
		if t.Schema != nil {
			m.Schema = tableToPB(t.Schema, 0)
		}
		out[i] = m
	}
	return out
}

// ---- host side ----

// ListTables lists the plugin source's tables (sdk.TableLister). For a plugin without the
// ability it returns an error wrapping sdk.ErrNotSupported.
func (c *sourceClient) ListTables(ctx context.Context, include []string) ([]sdk.ListedTable, error) {
	if !c.has(capSourceListTables) {
		return nil, c.notSupported("sdk.TableLister")
	}
	resp, err := c.rpc.ListTables(ctx, &pb.ListTablesRequest{Include: include})
	if err != nil {
		return nil, c.optionalCallError(ctx, "ListTables", "sdk.TableLister", err)
	}
	return listedTablesFromPB(resp.Tables), errorFromPB(resp.Error)
}

// SetTables changes the plugin source's table selection (sdk.TableSelector). For a plugin
// without the ability it returns an error wrapping sdk.ErrNotSupported.
func (c *sourceClient) SetTables(ctx context.Context, sel sdk.TableSelection) error {
	if !c.has(capSourceSetTables) {
		return c.notSupported("sdk.TableSelector")
	}
	resp, err := c.rpc.SetTables(ctx, &pb.SetTablesRequest{Include: sel.Include, Exclude: sel.Exclude})
	if err != nil {
		return c.optionalCallError(ctx, "SetTables", "sdk.TableSelector", err)
	}
	return errorFromPB(resp.Error)
}

// SnapshotProgress returns the plugin source's snapshot progress (sdk.ProgressReporter); nil
// when it has none, and for a plugin without the ability.
func (c *sourceClient) SnapshotProgress(ctx context.Context) ([]sdk.SnapshotProgress, error) {
	if !c.has(capSourceSnapshotProgress) {
		return nil, nil
	}
	resp, err := c.rpc.SnapshotProgress(ctx, &pb.SnapshotProgressRequest{})
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return nil, nil
		}
		return nil, rpcError(ctx, "SnapshotProgress", err)
	}
	var out []sdk.SnapshotProgress
	if len(resp.Tables) > 0 {
		out = make([]sdk.SnapshotProgress, len(resp.Tables))
		for i, m := range resp.Tables {
			out[i] = sdk.SnapshotProgress{Table: m.Table, RowsRead: m.RowsRead, RowsEstimated: m.RowsEstimated, Done: m.Done}
		}
	}
	return out, errorFromPB(resp.Error)
}

// notSupported is the error of an optional call the plugin did not advertise.
func (c *sourceClient) notSupported(iface string) error {
	return fmt.Errorf("source plugin %q does not implement %s: %w", c.info.Name, iface, sdk.ErrNotSupported)
}

// optionalCallError is rpcError, except that a plugin whose server lacks the method (which
// it should then not have advertised) reports sdk.ErrNotSupported.
func (c *sourceClient) optionalCallError(ctx context.Context, method, iface string, err error) error {
	if ctx.Err() == nil && status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("plugin call %s: %w", method, c.notSupported(iface))
	}
	return rpcError(ctx, method, err)
}

func listedTablesFromPB(ms []*pb.ListedTable) []sdk.ListedTable {
	if len(ms) == 0 {
		return nil
	}
	out := make([]sdk.ListedTable, len(ms))
	for i, m := range ms {
		out[i] = sdk.ListedTable{Database: m.Database, Name: m.Name, Type: m.Type, Problem: m.Problem}
		if m.Schema != nil {
			out[i].Schema = tableFromPB(m.Schema)
		}
	}
	return out
}

// ---- sdk.Resnapshotter ----

var _ sdk.Resnapshotter = (*sourceClient)(nil)

// Resnapshot calls the source's sdk.Resnapshotter. gRPC serves it on its own goroutine, so it
// runs concurrently with the Read stream, as the interface allows.
func (s *sourceServer) Resnapshot(ctx context.Context, req *pb.ResnapshotRequest) (*pb.ResnapshotResponse, error) {
	rs, ok := s.impl.(sdk.Resnapshotter)
	if !ok {
		return &pb.ResnapshotResponse{Error: errorToPB(s.notSupported("sdk.Resnapshotter"))}, nil
	}
	err := rs.Resnapshot(ctx, req.Tables)
	return &pb.ResnapshotResponse{Error: errorToPB(err), BatchesSent: s.readBefore()}, nil
}

// readBefore returns how many batches Source.Read returned, counting every batch returned
// before now. A batch returned just before is counted under readMu, right after its Read
// returned: readBefore waits for that lock. While a Read call blocks (an idle source),
// the lock stays held; after a short wait the count is taken anyway, since a Read still
// running then returns its batch later (the count is only short if the stream goroutine was
// held up between a Read's return and its count for that long).
func (s *sourceServer) readBefore() uint64 {
	deadline := time.Now().Add(200 * time.Millisecond)
	for !s.readMu.TryLock() {
		if time.Now().After(deadline) {
			return s.returned.Load()
		}
		time.Sleep(time.Millisecond)
	}
	n := s.returned.Load()
	s.readMu.Unlock()
	return n
}

// Resnapshot asks the plugin source to snapshot tables again (sdk.Resnapshotter). For a
// plugin without the ability it returns an error wrapping sdk.ErrNotSupported.
func (c *sourceClient) Resnapshot(ctx context.Context, tables []string) error {
	if !c.has(capSourceResnapshot) {
		return c.notSupported("sdk.Resnapshotter")
	}
	resp, err := c.rpc.Resnapshot(ctx, &pb.ResnapshotRequest{Tables: tables})
	if err != nil {
		return c.optionalCallError(ctx, "Resnapshot", "sdk.Resnapshotter", err)
	}
	if err := errorFromPB(resp.Error); err != nil {
		return err
	}
	// The batches the plugin sent ahead on the Read stream were read before the re-snapshot
	// was in force: return once the host has taken them, as a direct call would.
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for c.handed.Load() < resp.BatchesSent {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return errClosed
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("re-snapshot in force, but the host did not take the batches read before it: %w", ctx.Err())
		}
	}
	return nil
}

// ---- sdk.PositionDescriber ----

var _ sdk.PositionDescriber = (*sourceClient)(nil)

// DescribePosition calls the source's sdk.PositionDescriber.
func (s *sourceServer) DescribePosition(ctx context.Context, req *pb.DescribePositionRequest) (*pb.DescribePositionResponse, error) {
	pd, ok := s.impl.(sdk.PositionDescriber)
	if !ok {
		return &pb.DescribePositionResponse{Error: errorToPB(s.notSupported("sdk.PositionDescriber"))}, nil
	}
	text, err := pd.DescribePosition(ctx, req.Position)
	return &pb.DescribePositionResponse{Text: text, Error: errorToPB(err)}, nil
}

// DescribePosition asks the plugin source to describe a position (sdk.PositionDescriber). For
// a plugin without the ability it returns an error wrapping sdk.ErrNotSupported.
func (c *sourceClient) DescribePosition(ctx context.Context, pos change.Position) (string, error) {
	if !c.has(capSourceDescribePosition) {
		return "", c.notSupported("sdk.PositionDescriber")
	}
	resp, err := c.rpc.DescribePosition(ctx, &pb.DescribePositionRequest{Position: pos})
	if err != nil {
		return "", c.optionalCallError(ctx, "DescribePosition", "sdk.PositionDescriber", err)
	}
	if err := errorFromPB(resp.Error); err != nil {
		return "", err
	}
	return resp.Text, nil
}
