package protocol

import (
	"context"
	"fmt"
	"io"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"google.golang.org/grpc"
)

// filterServer serves an sdk.Filter. Calls run one at a time, in the order they arrive (the
// Filter interface does not promise to be safe for concurrent use). A kept change goes back
// as its index in the request, or in full when the filter modified or made it.
type filterServer struct {
	pb.UnsafeFilterServer
	controlServer
	impl sdk.Filter
}

func (s *filterServer) Filter(stream pb.Filter_FilterServer) error {
	ctx := stream.Context()
	var dec tableDecoder
	var enc tableEncoder
	var in []*change.Change
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if req.Cancel {
			continue // calls run inline: the cancelled one has already been answered
		}
		dec.define(req.Tables, req.ResetTables)
		resp := &pb.FilterResponse{Id: req.Id}
		changes, err := dec.changes(req.Changes, req.Values)
		var kept []*change.Change
		if err == nil {
			// The filter may reuse changes' backing array: remember the inputs.
			in = append(in[:0], changes...)
			kept, err = s.impl.Filter(ctx, changes)
		}
		if err != nil {
			resp.Error = errorToPB(err)
		} else {
			resp.ResetTables = enc.begin()
			keptToPB(&enc, &dec, req, in, kept, resp)
		}
		clear(in)
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// keptToPB encodes the filter's output into resp: each kept change by its index among the
// inputs (found in order, as the filter does not reorder), and in full when it differs from
// the message it was decoded from or is not one of the inputs.
func keptToPB(enc *tableEncoder, dec *tableDecoder, req *pb.FilterRequest, in, kept []*change.Change, resp *pb.FilterResponse) {
	msgs := req.Changes
	total := 0
	for _, m := range msgs {
		total += int(m.Before) + int(m.After)
	}
	r, _ := newValueReader(req.Values, total) // checked when the request was decoded
	slab := make([]pb.Kept, len(kept))
	resp.Kept = make([]*pb.Kept, len(kept))
	var full []*change.Change
	var fullAt []int
	j := 0
	for i, c := range kept {
		k := &slab[i]
		resp.Kept[i] = k
		next := j
		for next < len(in) && in[next] != c {
			next++
		}
		k.Index = uint32(j)
		if next == len(in) { // a change the filter made
			full, fullAt = append(full, c), append(fullAt, i)
			continue
		}
		for ; j < next; j++ {
			r.skip(msgs[j].Before + msgs[j].After)
		}
		k.Index = uint32(j)
		if t, _ := dec.table(msgs[j].TableId); !sameChange(c, msgs[j], t, &r) {
			full, fullAt = append(full, c), append(fullAt, i)
		}
		j++
	}
	if len(full) > 0 {
		resp.Values = &pb.Values{}
		for n, m := range enc.changes(full, &resp.Tables, resp.Values) {
			resp.Kept[fullAt[n]].Change = m
		}
	}
}

// filterClient is the host's sdk.Filter for a plugin.
type filterClient struct {
	control
	enc tableEncoder // used under mux.sendMu
	dec tableDecoder // used by the mux's receive loop
	mux *clientMux[pb.FilterRequest, pb.FilterResponse]
}

func newFilterClient(ctx context.Context, conn *grpc.ClientConn) (*filterClient, error) {
	rpc := pb.NewFilterClient(conn)
	ctl, err := newControl(ctx, rpc, sdk.KindFilter)
	if err != nil {
		return nil, err
	}
	c := &filterClient{control: ctl}
	c.mux = &clientMux[pb.FilterRequest, pb.FilterResponse]{
		ctx: ctx,
		open: func(ctx context.Context) (grpc.BidiStreamingClient[pb.FilterRequest, pb.FilterResponse], error) {
			return rpc.Filter(ctx)
		},
		respID:     func(r *pb.FilterResponse) uint64 { return r.Id },
		decode:     c.decode,
		cancelReq:  func(id uint64) *pb.FilterRequest { return &pb.FilterRequest{Id: id, Cancel: true} },
		sendFailed: c.enc.forget,
	}
	return c, nil
}

// decode runs in receive order: it records the reply's table definitions and decodes the
// changes sent in full. The result has one entry per kept change, nil where the kept change
// is the input at its index.
func (c *filterClient) decode(r *pb.FilterResponse) (any, error) {
	c.dec.define(r.Tables, r.ResetTables)
	var full []*pb.Change
	for _, k := range r.Kept {
		if k.Change != nil {
			full = append(full, k.Change)
		}
	}
	if full == nil {
		return []*change.Change(nil), nil
	}
	decoded, err := c.dec.changes(full, r.Values)
	if err != nil {
		return nil, err
	}
	out := make([]*change.Change, len(r.Kept))
	for i, k := range r.Kept {
		if k.Change != nil {
			out[i], decoded = decoded[0], decoded[1:]
		}
	}
	return out, nil
}

func (c *filterClient) Filter(ctx context.Context, changes []*change.Change) ([]*change.Change, error) {
	r, err := c.mux.call(ctx, func(id uint64) *pb.FilterRequest {
		req := &pb.FilterRequest{Id: id, ResetTables: c.enc.begin(), Values: &pb.Values{}}
		req.Changes = c.enc.changes(changes, &req.Tables, req.Values)
		return req
	})
	if err != nil {
		return nil, err
	}
	if r.msg.Error != nil {
		return nil, errorFromPB(r.msg.Error)
	}
	full, _ := r.val.([]*change.Change)
	// A new slice: the filter may have made changes, so the output can outgrow the inputs
	// consumed so far and must not overwrite the input's backing array.
	out := make([]*change.Change, 0, len(r.msg.Kept))
	last := -1
	for i, k := range r.msg.Kept {
		if full != nil && full[i] != nil {
			out = append(out, full[i])
			continue
		}
		idx := int(k.Index)
		if idx <= last || idx >= len(changes) {
			return nil, fmt.Errorf("protocol error: filter kept change %d after %d of %d", idx, last, len(changes))
		}
		last = idx
		out = append(out, changes[idx])
	}
	return out, nil
}
