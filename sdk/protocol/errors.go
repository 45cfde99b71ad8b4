package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ferry-cdc/ferry/sdk"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrConnectionLost is wrapped by the errors of calls that failed because the connection to
// the plugin broke (usually: the plugin process died).
var ErrConnectionLost = errors.New("plugin connection lost")

// errClosed is returned by calls on an adapter after its Close.
var errClosed = errors.New("plugin adapter is closed")

// lostConn is the error of a stream that broke while conn (the plugin connection's
// context, which go-plugin cancels when the plugin process exits) was live or not.
func lostConn(conn context.Context, err error) error {
	if conn.Err() != nil {
		return fmt.Errorf("%w: the plugin process exited", ErrConnectionLost)
	}
	return lost(err)
}

// lost wraps a transport error as a lost connection.
func lost(err error) error {
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%w: %s: %s", ErrConnectionLost, s.Code(), s.Message())
	}
	return fmt.Errorf("%w: %v", ErrConnectionLost, err)
}

// rpcError turns the error of a unary call into the caller's error: the context's error when
// ctx ended, a lost connection when the transport failed, else the call's error.
func rpcError(ctx context.Context, method string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
		return fmt.Errorf("%s: %w", method, lost(err))
	}
	return fmt.Errorf("plugin call %s: %w", method, err)
}

// errorToPB encodes a plugin method's error: its text, whether it is (or wraps) one of the
// errors errorFromPB restores, whether it was marked with sdk.Permanent, and the detail of an
// sdk.TooLargeError.
func errorToPB(err error) *pb.Error {
	if err == nil {
		return nil
	}
	e := &pb.Error{Message: err.Error(), Permanent: sdk.IsPermanent(err)}
	if t, ok := sdk.AsTooLarge(err); ok {
		e.TooLarge = &pb.TooLarge{Index: uint32(max(t.Index, 0)), Size: t.Size, Limit: t.Limit}
	}
	switch {
	case errors.Is(err, io.EOF):
		e.Code = pb.Error_CODE_EOF
	case errors.Is(err, context.Canceled):
		e.Code = pb.Error_CODE_CANCELED
	case errors.Is(err, context.DeadlineExceeded):
		e.Code = pb.Error_CODE_DEADLINE_EXCEEDED
	case errors.Is(err, sdk.ErrNotSupported):
		e.Code = pb.Error_CODE_NOT_SUPPORTED
	}
	return e
}

// errorFromPB decodes a plugin method's error. io.EOF, the context errors and
// sdk.ErrNotSupported come back as themselves (or wrapped, when the plugin added text), so
// errors.Is works across the wire; an error the plugin marked with sdk.Permanent is marked
// again (sdk.IsPermanent works too), and an sdk.TooLargeError comes back as one, with its
// record index, size and limit. The text is the plugin's.
func errorFromPB(e *pb.Error) error {
	if e == nil {
		return nil
	}
	var base error
	switch e.Code {
	case pb.Error_CODE_EOF:
		base = io.EOF
	case pb.Error_CODE_CANCELED:
		base = context.Canceled
	case pb.Error_CODE_DEADLINE_EXCEEDED:
		base = context.DeadlineExceeded
	case pb.Error_CODE_NOT_SUPPORTED:
		base = sdk.ErrNotSupported
	}
	var err error
	if base != nil && e.Message == base.Error() {
		err = base
	} else {
		err = &remoteError{msg: e.Message, base: base}
	}
	if t := e.TooLarge; t != nil {
		// Permanent by itself.
		return &sdk.TooLargeError{Index: int(t.Index), Size: t.Size, Limit: t.Limit, Err: err}
	}
	if e.Permanent {
		err = sdk.Permanent(err)
	}
	return err
}

// remoteError is an error returned by the plugin.
type remoteError struct {
	msg  string
	base error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.base }
