package plugin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-cdc/ferry/sdk"
)

// Sentinel errors; the typed errors below wrap them.
var (
	// ErrNotFound: no built-in or external plugin has the requested kind and name.
	ErrNotFound = errors.New("plugin not found")
	// ErrVersionMismatch: the plugin speaks a protocol version ferry does not.
	ErrVersionMismatch = errors.New("plugin protocol version mismatch")
	// ErrCrashed: the plugin process exited while in use.
	ErrCrashed = errors.New("plugin crashed")
	// ErrLaunch: the plugin process could not be started or did not complete the handshake.
	ErrLaunch = errors.New("plugin failed to start")
)

// NotFoundError says which plugin was not found and where ferry looked.
type NotFoundError struct {
	Kind       sdk.Kind
	Name       string
	Searched   []string
	Suggestion string
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s plugin %q not found: it is not built in", e.Kind, e.Name)
	if len(e.Searched) > 0 {
		fmt.Fprintf(&b, " and no executable ferry-%s-%s is in %s", e.Kind, e.Name, strings.Join(e.Searched, ", "))
	} else {
		b.WriteString(" and no plugin directory is configured")
	}
	if e.Suggestion != "" {
		fmt.Fprintf(&b, "; did you mean %q?", e.Suggestion)
	}
	return b.String()
}

// Unwrap returns ErrNotFound.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// VersionError says which plugin speaks which protocol version.
type VersionError struct {
	Kind   sdk.Kind
	Name   string
	Path   string
	Detail string
	Ferry  []int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%s plugin %q (%s) speaks a protocol version ferry does not (ferry speaks %v): %s",
		e.Kind, e.Name, e.Path, e.Ferry, e.Detail)
}

// Unwrap returns ErrVersionMismatch.
func (e *VersionError) Unwrap() error { return ErrVersionMismatch }

// CrashError reports a plugin whose process exited while in use, with its last output.
type CrashError struct {
	Kind     sdk.Kind
	Name     string
	Path     string
	LastLogs []string
	Err      error
}

func (e *CrashError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s plugin %q (%s) crashed", e.Kind, e.Name, e.Path)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if len(e.LastLogs) > 0 {
		b.WriteString("; its last output:\n    ")
		b.WriteString(strings.Join(e.LastLogs, "\n    "))
	} else {
		b.WriteString("; it wrote nothing to stderr")
	}
	return b.String()
}

// Unwrap returns ErrCrashed and the call's error.
func (e *CrashError) Unwrap() []error { return []error{ErrCrashed, e.Err} }

// Permanent reports true: a plugin whose process has died cannot complete a retried call, so
// the pipeline stops (and resumes from its checkpoint when run again) instead of retrying.
func (e *CrashError) Permanent() bool { return true }
