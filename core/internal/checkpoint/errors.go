package checkpoint

import "errors"

var (
	// ErrInvalidName is returned for a pipeline name that is not 1..64 letters, digits, '_'
	// or '-'.
	ErrInvalidName = errors.New("invalid pipeline name")
	// ErrCorrupt is returned when a stored checkpoint cannot be read back intact (truncated,
	// checksum mismatch, wrong pipeline). The error names the file; ferry never starts over
	// silently.
	ErrCorrupt = errors.New("corrupt checkpoint")
	// ErrUnsupportedFormat is returned for a checkpoint file written by a newer ferry.
	ErrUnsupportedFormat = errors.New("unsupported checkpoint format")
	// ErrClosed is returned by a Store after Close.
	ErrClosed = errors.New("checkpoint store closed")
	// ErrUnknownBatch is returned by Tracker.Ack for a sequence number that is not pending.
	ErrUnknownBatch = errors.New("unknown batch")
	// ErrOverAck is returned by Tracker.Ack when a batch gets more acknowledgements than it
	// has records.
	ErrOverAck = errors.New("more acknowledgements than records")
)
