package sdk

import (
	"context"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// TableLister is an optional interface of a Source: it lists the tables and views its
// database has that the include patterns ("db.table", '*' for any run of characters,
// case-insensitive) select. `ferry objects` uses it to resolve a pipeline's objects block
// against the live schema. It is called after Configure, without Open.
//
// It is not carried by the plugin protocol yet: only sources running in the ferry process
// (built-ins without out_of_process) can be listed.
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
