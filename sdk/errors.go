package sdk

import "errors"

// ErrNotSupported is returned (wrapped) by a call to an optional ability that the plugin does
// not have, for example SetTables through the plugin protocol to a source that is not an
// sdk.TableSelector. Test with errors.Is.
var ErrNotSupported = errors.New("not supported by this plugin")

// Permanent marks err as not worth retrying (a message the target will never accept, wrong
// credentials): the host stops the pipeline instead of retrying with backoff. Errors not so
// marked are treated as transient.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent reports true; the host looks for this method.
func (e *permanentError) Permanent() bool { return true }

// IsPermanent reports whether err, or an error it wraps, was marked with Permanent.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}
