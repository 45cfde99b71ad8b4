package sdk

import "context"

// CheckStatus is the verdict of a precheck.
type CheckStatus string

// Verdicts.
const (
	CheckPass CheckStatus = "pass"
	CheckWarn CheckStatus = "warn"
	CheckFail CheckStatus = "fail"
)

// Check is one precheck result.
type Check struct {
	// Name identifies the check, stable across versions: users skip it by this name
	// (`ferry precheck --skip NAME`). Lower-case with underscores: "binlog_format".
	Name string
	// Status is the verdict.
	Status CheckStatus
	// Detail says what was found, naming the database, table, column or setting at fault.
	Detail string
	// Consequence says what happens if the user skips a failed or warned check.
	Consequence string
}

// Prechecker is implemented by plugins that can check, before a run, that the target or source
// is ready (connectivity, settings, privileges, names). Precheck is called after Configure and
// may connect; it returns every check it ran, passed ones included. An error means the checks
// themselves could not run.
type Prechecker interface {
	Precheck(ctx context.Context) ([]Check, error)
}
