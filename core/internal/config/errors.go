package config

import (
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// ErrInvalid is wrapped by the error Err returns for diagnostics that contain errors.
var ErrInvalid = errors.New("invalid pipeline file")

// Err returns nil when diags has no errors, and otherwise an error wrapping ErrInvalid that
// counts them (the diagnostics themselves are meant to be printed with WriteDiagnostics).
func Err(diags hcl.Diagnostics) error {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	switch n {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%w: 1 error", ErrInvalid)
	default:
		return fmt.Errorf("%w: %d errors", ErrInvalid, n)
	}
}
