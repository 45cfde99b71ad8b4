package pipeline

import "runtime/debug"

// protect runs one plugin call and turns a panic into a *PanicError, so a broken plugin
// fails the pipeline with an error naming its stage instead of crashing ferry or vanishing.
func protect(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}
