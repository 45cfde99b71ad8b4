package protocol

import (
	"context"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
)

// This file multiplexes calls over one long-lived bidirectional stream: each request carries
// an id, the plugin answers each id once, in any order, and several calls are in flight at
// once. Used by Filter, Serialize and Write.

// reply is what a multiplexed call gets back.
type reply[Resp any] struct {
	msg *Resp
	val any // what decode made of msg, in receive order
}

// clientMux is the host side of a multiplexed stream. The stream is opened by the first call
// and lives as long as the plugin connection (ctx), or until close.
type clientMux[Req, Resp any] struct {
	ctx  context.Context // the plugin connection's lifetime
	open func(context.Context) (grpc.BidiStreamingClient[Req, Resp], error)
	// respID returns the id a response answers.
	respID func(*Resp) uint64
	// decode, if set, runs on every response in receive order (for per-stream state such as
	// table definitions); its result is the reply's val.
	decode func(*Resp) (any, error)
	// cancelReq builds the request that cancels call id.
	cancelReq func(id uint64) *Req
	// sendFailed, if set, runs (under the send lock) when a request could not be sent, so that
	// per-stream encoder state can forget what the plugin never received.
	sendFailed func()

	// sendMu serializes building and sending requests: requests must reach the plugin in the
	// order they were encoded.
	sendMu sync.Mutex

	mu      sync.Mutex
	stream  grpc.BidiStreamingClient[Req, Resp]
	stop    context.CancelFunc
	pending map[uint64]chan result[Resp]
	nextID  uint64
	failed  error // once set, every call gets it
	closing bool
	done    chan struct{} // closed when the receive loop has ended
}

type result[Resp any] struct {
	reply reply[Resp]
	err   error
}

// startLocked opens the stream if needed. m.mu is held.
func (m *clientMux[Req, Resp]) startLocked() error {
	if m.failed != nil {
		return m.failed
	}
	if m.stream != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(m.ctx)
	s, err := m.open(ctx)
	if err != nil {
		cancel()
		return rpcError(m.ctx, "open stream", err)
	}
	m.stream, m.stop, m.done = s, cancel, make(chan struct{})
	m.pending = make(map[uint64]chan result[Resp])
	go m.receive(s)
	return nil
}

func (m *clientMux[Req, Resp]) receive(s grpc.BidiStreamingClient[Req, Resp]) {
	defer close(m.done)
	for {
		msg, err := s.Recv()
		if err != nil {
			m.fail(err)
			return
		}
		var r result[Resp]
		r.reply.msg = msg
		if m.decode != nil {
			r.reply.val, r.err = m.decode(msg)
		}
		id := m.respID(msg)
		m.mu.Lock()
		ch, ok := m.pending[id]
		delete(m.pending, id)
		m.mu.Unlock()
		if ok {
			ch <- r // buffered: never blocks
		}
	}
}

// fail ends the mux after the stream ended with err, failing every waiting call.
func (m *clientMux[Req, Resp]) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing {
		m.failed = errClosed
	} else {
		m.failed = lostConn(m.ctx, err)
	}
	for id, ch := range m.pending {
		ch <- result[Resp]{err: m.failed}
		delete(m.pending, id)
	}
	m.stop()
}

// call sends the request build makes for a new id and waits for its reply. build runs under
// the send lock, in send order. When ctx ends first, call returns ctx.Err() and asks the
// plugin to cancel the request.
func (m *clientMux[Req, Resp]) call(ctx context.Context, build func(id uint64) *Req) (reply[Resp], error) {
	if err := ctx.Err(); err != nil {
		return reply[Resp]{}, err
	}
	m.mu.Lock()
	if err := m.startLocked(); err != nil {
		m.mu.Unlock()
		return reply[Resp]{}, err
	}
	m.nextID++
	id := m.nextID
	ch := make(chan result[Resp], 1)
	m.pending[id] = ch
	s := m.stream
	m.mu.Unlock()

	m.sendMu.Lock()
	err := s.Send(build(id))
	if err != nil && m.sendFailed != nil {
		m.sendFailed()
	}
	m.sendMu.Unlock()
	// io.EOF means the stream has ended: the receive loop fails this call with the reason.
	if err != nil && err != io.EOF {
		m.forget(id)
		return reply[Resp]{}, fmt.Errorf("send to plugin: %w", err)
	}
	select {
	case r := <-ch:
		return r.reply, r.err
	case <-ctx.Done():
		if m.forget(id) {
			go m.cancel(s, id)
		}
		return reply[Resp]{}, ctx.Err()
	}
}

// forget removes a pending call; it reports whether the call was still pending.
func (m *clientMux[Req, Resp]) forget(id uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.pending[id]
	delete(m.pending, id)
	return ok
}

func (m *clientMux[Req, Resp]) cancel(s grpc.BidiStreamingClient[Req, Resp], id uint64) {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	_ = s.Send(m.cancelReq(id)) // best effort: the reply is ignored anyway
}

// close ends the stream after the plugin has answered the calls in flight (or ctx ends).
// Later calls fail.
func (m *clientMux[Req, Resp]) close(ctx context.Context) error {
	m.mu.Lock()
	s, done := m.stream, m.done
	m.closing = true
	if m.failed == nil {
		m.failed = errClosed
	}
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	m.sendMu.Lock()
	err := s.CloseSend()
	m.sendMu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		m.stop()
		<-done
		return ctx.Err()
	}
	return err
}

// serverCalls runs the requests of one multiplexed stream on the plugin side, each on its
// own goroutine, at most maxInFlight at once (the stream stops being read beyond that, which
// is backpressure on the host).
type serverCalls struct {
	ctx     context.Context
	sem     chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	cancels map[uint64]context.CancelFunc
}

// maxInFlight bounds the concurrent calls a plugin serves per stream.
const maxInFlight = 64

func newServerCalls(ctx context.Context) *serverCalls {
	return &serverCalls{ctx: ctx, sem: make(chan struct{}, maxInFlight), cancels: make(map[uint64]context.CancelFunc)}
}

// start runs f for call id on a new goroutine.
func (s *serverCalls) start(id uint64, f func(ctx context.Context)) {
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.mu.Lock()
	s.cancels[id] = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.cancels, id)
			s.mu.Unlock()
			cancel()
			<-s.sem
			s.wg.Done()
		}()
		f(ctx)
	}()
}

// cancel cancels call id if it is running.
func (s *serverCalls) cancel(id uint64) {
	s.mu.Lock()
	c := s.cancels[id]
	s.mu.Unlock()
	if c != nil {
		c()
	}
}

// wait waits for every started call to end.
func (s *serverCalls) wait() { s.wg.Wait() }

// serialSend serializes Send on a server stream (gRPC allows one sender at a time).
type serialSend[Resp any] struct {
	mu     sync.Mutex
	stream interface{ Send(*Resp) error }
}

func (s *serialSend[Resp]) send(m *Resp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(m)
}
