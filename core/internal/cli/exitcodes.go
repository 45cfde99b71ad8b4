package cli

// Exit codes. They are part of ferry's interface: scripts rely on them.
const (
	// ExitOK: success (also a graceful stop on SIGINT/SIGTERM).
	ExitOK = 0
	// ExitFailure: the pipeline failed while running (source, sink, plugin crash, checkpoint).
	ExitFailure = 1
	// ExitUsage: wrong command-line usage (unknown flag, missing argument).
	ExitUsage = 2
	// ExitConfig: the pipeline file is invalid (syntax, schema, plugin configuration) or a
	// plugin could not be found or started.
	ExitConfig = 3
	// ExitPrecheck: a precheck failed (and was not skipped).
	ExitPrecheck = 4
)

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }
