package sdk

import "context"

// Resnapshotter is an optional interface of a Source that snapshots: it reads the snapshot of
// tables it already streams again, while every other table keeps streaming (`ferry snapshot`
// calls it, on a running pipeline or at the next start of a stopped one).
//
// Resnapshot is called after Open, concurrently with Read. tables are "db.table" names
// (case-insensitive) of tables the source reads; a name the source does not read is refused
// with an error naming it, and then nothing changes. It returns once the new snapshots are in
// force: the positions of batches the source hands over after it returns record them (so a
// restart continues them), and the tables' rows are read again with the same hand-over
// guarantees as at the start (a snapshot row never follows a newer change of its key, and the
// tables' changes keep flowing). A table whose snapshot is under way starts it over. A source
// that cannot re-snapshot in its current mode (no snapshot, or no change stream to hand over
// to) returns an error saying so.
//
// Out-of-process sources that implement it are called through the plugin protocol (the
// "source.resnapshot" capability).
type Resnapshotter interface {
	Resnapshot(ctx context.Context, tables []string) error
}
