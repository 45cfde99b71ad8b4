package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// readWindow is how many batches the host lets a source plugin send ahead of Read calls.
// Credits go back in groups of half the window, so that granting costs one small message
// per readWindow/2 batches.
const readWindow = 8

// sourceServer serves an sdk.Source. The Read stream calls Source.Read in a loop while the
// host has granted credits and sends each batch; the source's error or end comes last.
type sourceServer struct {
	pb.UnsafeSourceServer
	controlServer
	impl sdk.Source

	mu       sync.Mutex
	stopRead context.CancelFunc // stops the running Read stream
	readDone chan struct{}      // closed when it has stopped

	// readMu is held from a Source.Read call until the batch it returned is counted in
	// returned (ResnapshotResponse.batches_sent).
	readMu   sync.Mutex
	returned atomic.Uint64
}

func (s *sourceServer) Open(ctx context.Context, req *pb.SourceOpenRequest) (*pb.SourceOpenResponse, error) {
	var pos change.Position
	if len(req.Position) > 0 {
		pos = req.Position
	}
	open := sdk.OpenRequest{Pipeline: req.Pipeline, Position: pos}
	if req.StateDir != "" {
		st, err := sdk.NewDirState(req.StateDir)
		if err != nil {
			return &pb.SourceOpenResponse{Error: errorToPB(err)}, nil
		}
		open.State = st
	}
	err := s.impl.Open(ctx, open)
	return &pb.SourceOpenResponse{Error: errorToPB(err)}, nil
}

func (s *sourceServer) Ack(ctx context.Context, req *pb.SourceAckRequest) (*pb.SourceAckResponse, error) {
	a, ok := s.impl.(sdk.SourceAcker)
	if !ok {
		return &pb.SourceAckResponse{}, nil
	}
	return &pb.SourceAckResponse{Error: errorToPB(a.Ack(ctx, req.Position))}, nil
}

// Close stops the Read loop, waits for it, then closes the source (Read and Close never
// overlap).
func (s *sourceServer) Close(ctx context.Context, _ *pb.CloseRequest) (*pb.CloseResponse, error) {
	s.mu.Lock()
	stop, done := s.stopRead, s.readDone
	s.mu.Unlock()
	if stop != nil {
		stop()
		select {
		case <-done:
		case <-ctx.Done():
			return &pb.CloseResponse{Error: errorToPB(ctx.Err())}, nil
		}
	}
	return &pb.CloseResponse{Error: errorToPB(s.impl.Close(ctx))}, nil
}

func (s *sourceServer) Read(stream pb.Source_ReadServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	// The host opens a new stream after the previous one delivered its last word, which may
	// reach it before that stream's handler has returned: wait for it.
	s.mu.Lock()
	for s.readDone != nil {
		prev := s.readDone
		s.mu.Unlock()
		select {
		case <-prev:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
		s.mu.Lock()
	}
	s.stopRead, s.readDone = cancel, done
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.stopRead, s.readDone = nil, nil
		s.mu.Unlock()
	}()

	cr := &credits{wake: make(chan struct{}, 1)}
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil { // the host stopped reading (io.EOF) or went away
				cancel()
				return
			}
			cr.add(req.Credits)
		}
	}()

	var enc tableEncoder
	for {
		if !cr.take(ctx) {
			return nil
		}
		s.readMu.Lock()
		b, err := s.impl.Read(ctx)
		if b != nil {
			s.returned.Add(1)
		}
		s.readMu.Unlock()
		if ctx.Err() != nil {
			return nil // the host stopped reading: nobody wants the result
		}
		if b != nil {
			resp := &pb.ReadResponse{ResetTables: enc.begin()}
			batch := &pb.Batch{Position: b.Position, Values: &pb.Values{}}
			batch.Changes = enc.changes(b.Changes, &resp.Tables, batch.Values)
			resp.Event = &pb.ReadResponse_Batch{Batch: batch}
			if err := stream.Send(resp); err != nil {
				return err
			}
		} else if err == nil {
			cr.add(1) // nothing sent: the credit is still there
		}
		if err != nil {
			resp := &pb.ReadResponse{Event: &pb.ReadResponse_Error{Error: errorToPB(err)}}
			if errors.Is(err, io.EOF) {
				resp.Event = &pb.ReadResponse_End{End: &pb.EndOfStream{}}
			}
			return stream.Send(resp)
		}
	}
}

// credits counts the batches the host is ready to take.
type credits struct {
	mu   sync.Mutex
	n    uint64
	wake chan struct{} // capacity 1
}

func (c *credits) add(n uint32) {
	c.mu.Lock()
	c.n += uint64(n)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take waits for a credit and takes it; false when ctx ended first.
func (c *credits) take(ctx context.Context) bool {
	for {
		c.mu.Lock()
		if c.n > 0 {
			c.n--
			c.mu.Unlock()
			return true
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-ctx.Done():
			return false
		}
	}
}

// sourceClient is the host's sdk.Source for a plugin. Read opens a Read stream on first use
// and keeps up to readWindow batches coming ahead of the calls; decoding happens on the
// stream's receive goroutine, overlapping the host's work. After the source's error or end
// of stream, the next Read opens a new stream (so Read behaves as a direct call would).
type sourceClient struct {
	control
	rpc pb.SourceClient
	ctx context.Context // the plugin connection's lifetime

	mu     sync.Mutex
	closed bool
	rs     *readStream // nil when no Read stream is open

	handed atomic.Uint64 // batches Read returned (compared with ResnapshotResponse.batches_sent)
}

type readStream struct {
	stream   pb.Source_ReadClient
	stop     context.CancelFunc
	items    chan readItem
	done     chan struct{} // closed when the receive goroutine has ended
	sendMu   sync.Mutex    // guards Send and consumed
	consumed uint32        // batches taken since credits were last granted
}

type readItem struct {
	batch *change.Batch
	err   error // terminal: nothing follows
}

func newSourceClient(ctx context.Context, conn *grpc.ClientConn) (*sourceClient, error) {
	rpc := pb.NewSourceClient(conn)
	ctl, err := newControl(ctx, rpc, sdk.KindSource)
	if err != nil {
		return nil, err
	}
	return &sourceClient{control: ctl, rpc: rpc, ctx: ctx}, nil
}

func (c *sourceClient) Open(ctx context.Context, req sdk.OpenRequest) error {
	open := &pb.SourceOpenRequest{Pipeline: req.Pipeline, Position: req.Position}
	if req.State != nil {
		// Only a directory-backed store crosses the process boundary (the plugin opens the
		// same directory); other stores would need a host service.
		d, ok := req.State.(interface{ Dir() string })
		if !ok {
			return fmt.Errorf("out-of-process source: state store %T cannot cross the plugin boundary", req.State)
		}
		open.StateDir = d.Dir()
	}
	resp, err := c.rpc.Open(ctx, open)
	if err != nil {
		return rpcError(ctx, "Open", err)
	}
	return errorFromPB(resp.Error)
}

// Ack is a unary call when the plugin's source implements sdk.SourceAcker, else nothing.
func (c *sourceClient) Ack(ctx context.Context, pos change.Position) error {
	if !c.has(capSourceAck) {
		return nil
	}
	resp, err := c.rpc.Ack(ctx, &pb.SourceAckRequest{Position: pos})
	if err != nil {
		return rpcError(ctx, "Ack", err)
	}
	return errorFromPB(resp.Error)
}

func (c *sourceClient) Read(ctx context.Context) (*change.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rs, err := c.readStream()
	if err != nil {
		return nil, err
	}
	select {
	case it := <-rs.items:
		if it.err != nil {
			c.endRead(rs)
			return nil, it.err
		}
		rs.grant()
		c.handed.Add(1)
		return it.batch, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readStream returns the open Read stream, opening one if needed.
func (c *sourceClient) readStream() (*readStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if c.rs != nil {
		return c.rs, nil
	}
	ctx, stop := context.WithCancel(c.ctx)
	s, err := c.rpc.Read(ctx)
	if err == nil {
		err = s.Send(&pb.ReadRequest{Credits: readWindow})
	}
	if err != nil {
		stop()
		return nil, rpcError(c.ctx, "Read", err)
	}
	rs := &readStream{stream: s, stop: stop, items: make(chan readItem, readWindow+1), done: make(chan struct{})}
	go rs.receive(c.ctx, ctx)
	c.rs = rs
	return rs, nil
}

// endRead closes rs after its last item.
func (c *sourceClient) endRead(rs *readStream) {
	c.mu.Lock()
	if c.rs == rs {
		c.rs = nil
	}
	c.mu.Unlock()
	rs.stop()
	<-rs.done
}

// grant returns credits for the batches taken, in groups.
func (rs *readStream) grant() {
	rs.sendMu.Lock()
	defer rs.sendMu.Unlock()
	rs.consumed++
	if rs.consumed < readWindow/2 {
		return
	}
	n := rs.consumed
	rs.consumed = 0
	_ = rs.stream.Send(&pb.ReadRequest{Credits: n}) // if the stream ended, receive reports why
}

// receive decodes the stream's messages into items. conn is the plugin connection's
// context, ctx the stream's.
func (rs *readStream) receive(conn, ctx context.Context) {
	defer close(rs.done)
	var dec tableDecoder
	for {
		var it readItem
		resp, err := rs.stream.Recv()
		if err != nil {
			// The plugin always ends a stream with an error or end message, so this is a
			// broken connection, or the host stopped reading.
			switch {
			case conn.Err() != nil:
				it.err = lostConn(conn, err)
			case ctx.Err() != nil:
				it.err = errClosed
			default:
				it.err = lost(err)
			}
		} else {
			dec.define(resp.Tables, resp.ResetTables)
			switch ev := resp.Event.(type) {
			case *pb.ReadResponse_Batch:
				var cs []*change.Change
				if cs, it.err = dec.changes(ev.Batch.Changes, ev.Batch.Values); it.err == nil {
					it.batch = &change.Batch{Changes: cs, Position: ev.Batch.Position}
				}
			case *pb.ReadResponse_Error:
				it.err = errorFromPB(ev.Error)
			case *pb.ReadResponse_End:
				it.err = io.EOF
			default:
				continue // a newer plugin's event this host does not know
			}
		}
		select {
		case rs.items <- it:
		case <-ctx.Done():
			return
		}
		if it.err != nil {
			return
		}
	}
}

// Close stops reading and closes the plugin's source.
func (c *sourceClient) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	rs := c.rs
	c.rs = nil
	c.mu.Unlock()
	if rs != nil {
		rs.stop()
		select {
		case <-rs.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	resp, err := c.rpc.Close(ctx, &pb.CloseRequest{})
	if err != nil {
		return rpcError(ctx, "Close", err)
	}
	return errorFromPB(resp.Error)
}
