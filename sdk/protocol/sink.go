package protocol

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"google.golang.org/grpc"
)

// sinkServer serves an sdk.Sink. Writes run concurrently, as the host's write lanes call
// them.
type sinkServer struct {
	pb.UnsafeSinkServer
	controlServer
	impl sdk.Sink
}

func (s *sinkServer) Open(ctx context.Context, _ *pb.SinkOpenRequest) (*pb.SinkOpenResponse, error) {
	return &pb.SinkOpenResponse{Error: errorToPB(s.impl.Open(ctx))}, nil
}

func (s *sinkServer) Close(ctx context.Context, _ *pb.CloseRequest) (*pb.CloseResponse, error) {
	return &pb.CloseResponse{Error: errorToPB(s.impl.Close(ctx))}, nil
}

func (s *sinkServer) Write(stream pb.Sink_WriteServer) error {
	calls := newServerCalls(stream.Context())
	defer calls.wait()
	out := &serialSend[pb.WriteResponse]{stream: stream}
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if req.Cancel {
			calls.cancel(req.Id)
			continue
		}
		id := req.Id
		recs := recordsFromPB(req.Records, nil)
		timeout, deadline := req.TimeoutNanos, req.DeadlineUnixNanos
		calls.start(id, func(ctx context.Context) {
			ctx, cancel := withWireDeadline(ctx, timeout, deadline)
			defer cancel()
			n, err := s.impl.Write(ctx, recs)
			n = min(max(n, 0), len(recs))
			_ = out.send(&pb.WriteResponse{Id: id, Delivered: uint32(n), Error: errorToPB(err)})
		})
	}
}

// sinkClient is the host's sdk.Sink for a plugin.
type sinkClient struct {
	control
	rpc pb.SinkClient
	mux *clientMux[pb.WriteRequest, pb.WriteResponse]
}

func newSinkClient(ctx context.Context, conn *grpc.ClientConn) (*sinkClient, error) {
	rpc := pb.NewSinkClient(conn)
	ctl, err := newControl(ctx, rpc, sdk.KindSink)
	if err != nil {
		return nil, err
	}
	return &sinkClient{control: ctl, rpc: rpc, mux: &clientMux[pb.WriteRequest, pb.WriteResponse]{
		ctx: ctx,
		open: func(ctx context.Context) (grpc.BidiStreamingClient[pb.WriteRequest, pb.WriteResponse], error) {
			return rpc.Write(ctx)
		},
		respID:    func(r *pb.WriteResponse) uint64 { return r.Id },
		cancelReq: func(id uint64) *pb.WriteRequest { return &pb.WriteRequest{Id: id, Cancel: true} },
	}}, nil
}

// OrderScope is the scope the plugin's sink declared in its Configure reply (sdk.OrderKey
// when it declared none, as a plugin built against an older SDK does).
func (c *sinkClient) OrderScope() sdk.OrderScope {
	if c.orderScope.Valid() {
		return c.orderScope
	}
	return sdk.OrderKey
}

func (c *sinkClient) Open(ctx context.Context) error {
	resp, err := c.rpc.Open(ctx, &pb.SinkOpenRequest{})
	if err != nil {
		return rpcError(ctx, "Open", err)
	}
	return errorFromPB(resp.Error)
}

func (c *sinkClient) Write(ctx context.Context, records []sdk.Record) (int, error) {
	req := &pb.WriteRequest{Records: recordsToPB(records)}
	req.TimeoutNanos, req.DeadlineUnixNanos = wireDeadline(ctx)
	r, err := c.mux.call(ctx, func(id uint64) *pb.WriteRequest {
		req.Id = id
		return req
	})
	if err != nil {
		return 0, err
	}
	return min(int(r.msg.Delivered), len(records)), errorFromPB(r.msg.Error)
}

// Close waits for the writes in flight, ends the write stream and closes the plugin's sink.
func (c *sinkClient) Close(ctx context.Context) error {
	errStream := c.mux.close(ctx)
	resp, err := c.rpc.Close(ctx, &pb.CloseRequest{})
	if err != nil {
		return errors.Join(errStream, rpcError(ctx, "Close", err))
	}
	return errors.Join(errStream, errorFromPB(resp.Error))
}

// wireDeadline returns ctx's deadline for a WriteRequest: the time left (at least 1ns when
// it passed: the plugin's write then fails at once) and the deadline on the wall clock.
// Calls on a stream carry no gRPC deadline of their own, so without this a plugin's write
// would go on after the host's deadline whenever the host cannot send the cancel.
func wireDeadline(ctx context.Context) (timeoutNanos, unixNanos int64) {
	d, ok := ctx.Deadline()
	if !ok {
		return 0, 0
	}
	return max(int64(time.Until(d)), 1), max(d.UnixNano(), 1)
}

// withWireDeadline gives ctx the deadline a WriteRequest carries: the earlier of now plus
// timeoutNanos (on this process's monotonic clock) and unixNanos on the wall clock.
func withWireDeadline(ctx context.Context, timeoutNanos, unixNanos int64) (context.Context, context.CancelFunc) {
	if timeoutNanos <= 0 && unixNanos <= 0 {
		return ctx, func() {}
	}
	left := time.Duration(timeoutNanos)
	if unixNanos > 0 {
		if w := time.Until(time.Unix(0, unixNanos)); timeoutNanos <= 0 || w < left {
			left = w
		}
	}
	return context.WithTimeout(ctx, left)
}
