package protocol

import (
	"context"
	"io"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"google.golang.org/grpc"
)

// serializerServer serves an sdk.Serializer. Calls run concurrently (Serialize may be called
// from several goroutines at once).
type serializerServer struct {
	pb.UnsafeSerializerServer
	controlServer
	impl sdk.Serializer
}

func (s *serializerServer) Serialize(stream pb.Serializer_SerializeServer) error {
	calls := newServerCalls(stream.Context())
	defer calls.wait()
	out := &serialSend[pb.SerializeResponse]{stream: stream}
	var dec tableDecoder
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
		dec.define(req.Tables, req.ResetTables)
		changes, err := dec.changes(req.Changes, req.Values)
		if err != nil {
			if err := out.send(&pb.SerializeResponse{Id: id, Error: errorToPB(err)}); err != nil {
				return err
			}
			continue
		}
		calls.start(id, func(ctx context.Context) {
			recs, err := s.impl.Serialize(ctx, changes, nil)
			resp := &pb.SerializeResponse{Id: id, Error: errorToPB(err)}
			if err == nil {
				sdk.JoinHeads(recs) // the protocol carries whole bodies
				resp.Records = recordsToPB(recs)
			}
			_ = out.send(resp) // a failed send means the stream ended; Recv reports it
		})
	}
}

// serializerClient is the host's sdk.Serializer for a plugin.
type serializerClient struct {
	control
	enc tableEncoder // used under mux.sendMu
	mux *clientMux[pb.SerializeRequest, pb.SerializeResponse]
}

func newSerializerClient(ctx context.Context, conn *grpc.ClientConn) (*serializerClient, error) {
	rpc := pb.NewSerializerClient(conn)
	ctl, err := newControl(ctx, rpc, sdk.KindSerializer)
	if err != nil {
		return nil, err
	}
	c := &serializerClient{control: ctl}
	c.mux = &clientMux[pb.SerializeRequest, pb.SerializeResponse]{
		ctx: ctx,
		open: func(ctx context.Context) (grpc.BidiStreamingClient[pb.SerializeRequest, pb.SerializeResponse], error) {
			return rpc.Serialize(ctx)
		},
		respID:     func(r *pb.SerializeResponse) uint64 { return r.Id },
		cancelReq:  func(id uint64) *pb.SerializeRequest { return &pb.SerializeRequest{Id: id, Cancel: true} },
		sendFailed: c.enc.forget,
	}
	return c, nil
}

// ExactValues: every record value is a buffer of its own size, the protobuf decoder's copy
// of the message's bytes (it does not alias gRPC's receive buffer, which returns to its pool
// after decoding), so the host need not copy it again (sdk.ExactValues).
func (c *serializerClient) ExactValues() bool { return true }

func (c *serializerClient) Serialize(ctx context.Context, changes []*change.Change, out []sdk.Record) ([]sdk.Record, error) {
	r, err := c.mux.call(ctx, func(id uint64) *pb.SerializeRequest {
		req := &pb.SerializeRequest{Id: id, ResetTables: c.enc.begin(), Values: &pb.Values{}}
		req.Changes = c.enc.changes(changes, &req.Tables, req.Values)
		return req
	})
	if err != nil {
		return out, err
	}
	if r.msg.Error != nil {
		return out, errorFromPB(r.msg.Error)
	}
	return recordsFromPB(r.msg.Records, out), nil
}
