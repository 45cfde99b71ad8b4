package pipeline

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidConfig is wrapped by New's errors about the Config.
	ErrInvalidConfig = errors.New("invalid pipeline configuration")
	// ErrAlreadyRun is returned by a second call of Run: a Pipeline runs once.
	ErrAlreadyRun = errors.New("pipeline already run")
	// ErrNotRunning is returned by Quiesce after Run returned.
	ErrNotRunning = errors.New("pipeline not running")
)

// StageError is a failure of one stage of the pipeline. Its text names the stage, the
// plugin and the operation: `sink "rocketmq": write: connection refused`.
type StageError struct {
	// Stage is "source", "filter", "serializer", "sink" or "checkpoint".
	Stage string
	// Plugin is the plugin's name (empty for the checkpoint store).
	Plugin string
	// Op is the operation that failed: "open", "read", "filter", "serialize", "write",
	// "save", ...
	Op string
	// Err is the cause.
	Err error
}

func (e *StageError) Error() string {
	if e.Plugin == "" {
		return fmt.Sprintf("%s: %s: %v", e.Stage, e.Op, e.Err)
	}
	return fmt.Sprintf("%s %q: %s: %v", e.Stage, e.Plugin, e.Op, e.Err)
}

func (e *StageError) Unwrap() error { return e.Err }

// PanicError is a panic recovered from a plugin call.
type PanicError struct {
	// Value is what the plugin panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// permanent is implemented by errors that retrying cannot fix. Sinks mark such errors with a
// method `Permanent() bool` returning true (no import of ferry's internals needed).
type permanent interface{ Permanent() bool }

func isPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) && p.Permanent()
}

func asPanic(err error, target **PanicError) bool { return errors.As(err, target) }
