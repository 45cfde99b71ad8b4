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

// TooLargeError is the error of a Sink.Write whose record Index (an index into the records
// of that Write) is larger than the target accepts: Size bytes over Limit. The Write returns
// it with delivered == Index (every record before it delivered, none after it). It is
// permanent: retrying cannot help. The host applies its oversize policy: stop the pipeline
// (the default) or skip the record into a dead-letter file and go on. Build it with TooLarge;
// it crosses the plugin protocol with its fields.
type TooLargeError struct {
	// Index is the record's index in the Write's records.
	Index int
	// Size is the record's size as the target counts it; Limit the target's limit (both
	// bytes, 0 when unknown).
	Size, Limit int64
	// Err describes the failure (it should name the table and key, never the values).
	Err error
}

// TooLarge returns a *TooLargeError for record index of a Write.
func TooLarge(index int, size, limit int64, err error) error {
	return &TooLargeError{Index: index, Size: size, Limit: limit, Err: err}
}

func (e *TooLargeError) Error() string {
	if e.Err == nil {
		return "record too large"
	}
	return e.Err.Error()
}

func (e *TooLargeError) Unwrap() error { return e.Err }

// Permanent reports true: a record too large stays too large.
func (e *TooLargeError) Permanent() bool { return true }

// AsTooLarge returns the *TooLargeError err is or wraps.
func AsTooLarge(err error) (*TooLargeError, bool) {
	var t *TooLargeError
	ok := errors.As(err, &t)
	return t, ok
}
