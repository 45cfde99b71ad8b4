package sdk

import (
	"context"
	"strings"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// TableLister is an optional interface of a Source: it lists the tables and views its
// database has that the include patterns ("db.table", '*' for any run of characters,
// case-insensitive) select. `ferry objects` uses it to resolve a pipeline's objects block
// against the live schema. It is called after Configure, without Open.
//
// Out-of-process sources that implement it are listed through the plugin protocol.
type TableLister interface {
	ListTables(ctx context.Context, include []string) ([]ListedTable, error)
}

// ListedTable is one object a TableLister found.
type ListedTable struct {
	// Database and Name name the object.
	Database, Name string
	// Type is the catalog's type: "BASE TABLE", "VIEW", ...
	Type string
	// Schema is the table's schema; nil for objects that are not base tables or whose
	// schema could not be read (then Problem says why).
	Schema *change.Table
	// Problem, when set, says why the table cannot be synchronized.
	Problem string
}

// TableSelection is the set of tables a source reads: Include patterns ("db.table", '*' for
// any run of characters, case-insensitive) and Exclude patterns that patterns of Include must
// not select (a table named exactly in Include is never excluded).
type TableSelection struct {
	Include []string
	Exclude []string
}

// TableSelector is an optional interface of a Source whose table set can change while it runs
// (`ferry run` calls it when the pipeline file is reloaded on SIGHUP or when it changes).
//
// SetTables is called after Open, concurrently with Read. It returns once the new selection is
// in force: changes of tables it removes are no longer read after that point (changes already
// handed to the host are still delivered), and tables it adds join the stream. A source that
// snapshots (full and incremental) reads an added table's snapshot first, with the same
// hand-over guarantees as at the start, and records that snapshot's progress in its positions
// so that a restart continues it. A table that was already selected keeps streaming without
// interruption. An error leaves the previous selection in force; tables the new selection names
// that do not exist are not an error (they join when created, as pattern matches do).
type TableSelector interface {
	SetTables(ctx context.Context, sel TableSelection) error
}

// SnapshotProgress is one table's snapshot progress.
type SnapshotProgress struct {
	// Table is "db.table".
	Table string
	// RowsRead counts the snapshot rows the source has handed to the host, across restarts.
	RowsRead int64
	// RowsEstimated is the catalog's row estimate when the snapshot started (0: unknown). It
	// is an estimate: RowsRead may exceed it.
	RowsEstimated int64
	// Done is set once every row of the table was read.
	Done bool
}

// ProgressReporter is an optional interface of a Source that snapshots: it reports each
// selected table's snapshot progress (status, `ferry status` and the progress bar of
// `ferry run` show it). It is called after Open, concurrently with Read, about once a
// second, and must be cheap. It returns nil when the source has no snapshot (incremental
// only, or every table is done and forgotten).
type ProgressReporter interface {
	SnapshotProgress(ctx context.Context) ([]SnapshotProgress, error)
}

// MatchTable reports whether pattern ("db.table", '*' for any run of characters, the syntax of
// TableSelection and of TableLister's include patterns) matches the table db.name, ignoring
// case.
func MatchTable(pattern, db, name string) bool {
	p, s := strings.ToLower(pattern), strings.ToLower(db+"."+name)
	// Iterative wildcard match, backtracking to the last '*'.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
