package oceanbase

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-cdc/ferry/sdk"
)

// ErrNotSelected is returned by Resnapshot for a table the source does not read.
var ErrNotSelected = errors.New("not selected")

var _ sdk.Resnapshotter = (*Source)(nil)

// Resnapshot implements sdk.Resnapshotter: the tables' snapshots are read again, with the
// watermark hand-over, while every table (these too) keeps streaming. Like SetTables, the
// request is applied by whoever owns the stream, at a transaction boundary; it returns once
// it is in force.
//
// Each table's snapshot progress is forgotten (done, or under way: a snapshot under way starts
// over) and the table is queued for the planner again, with the schema the stream has for it
// at that boundary. The positions of every batch handed over afterwards lack the table's
// progress, so a restart (crash or stop) before its new snapshot completed snapshots it again
// from the start of what is not yet delivered: the progress of the new snapshot when a
// checkpoint holds some, else from the start.
//
// Only mode both re-snapshots: mode incremental has no snapshot, and mode full has no change
// stream to hand the table over to (a full pipeline reads every table when it runs anyway).
// A name that is not selected (or selected but not existing: dropped, not created yet) is
// refused, naming it, and nothing changes.
func (s *Source) Resnapshot(ctx context.Context, tables []string) error {
	if !s.opened {
		return errors.New("oceanbase: Resnapshot before Open")
	}
	switch s.cfg.Mode {
	case ModeFull:
		return sdk.Permanent(errors.New("oceanbase: mode full cannot re-snapshot a table while running: " +
			"there is no change stream to hand it over to (run the pipeline again from a new checkpoint to read every table)"))
	case ModeIncremental:
		return sdk.Permanent(errors.New("oceanbase: mode incremental has no snapshot to read again (set mode = \"both\")"))
	}
	if len(tables) == 0 {
		return sdk.Permanent(errors.New("oceanbase: Resnapshot: no table named"))
	}
	for _, t := range tables {
		if db, name, ok := strings.Cut(t, "."); !ok || db == "" || name == "" || strings.Contains(name, ".") {
			return sdk.Permanent(fmt.Errorf("oceanbase: re-snapshot %q: not a table name (want db.table)", t))
		}
	}
	return s.submit(ctx, &selRequest{ctx: ctx, resnap: append([]string(nil), tables...), done: make(chan error, 1)})
}

// applyResnapshot plans the re-snapshot of tables. The caller owns the stream state and is at
// a transaction boundary (no row of an open transaction is buffered).
func (s *Source) applyResnapshot(ctx context.Context, tables []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var tbs []*table
	seen := map[string]bool{}
	for _, n := range tables {
		k := strings.ToLower(n)
		if seen[k] {
			continue
		}
		seen[k] = true
		tb, selected := s.tables[k]
		if !selected {
			return sdk.Permanent(fmt.Errorf("oceanbase: cannot re-snapshot %s: the table is %w by the pipeline", n, ErrNotSelected))
		}
		if tb == nil {
			return sdk.Permanent(fmt.Errorf("oceanbase: cannot re-snapshot %s: the table does not exist now (dropped, or not created yet)", n))
		}
		tbs = append(tbs, tb)
	}
	for _, tb := range tbs {
		name := tb.name()
		s.cancelSnapshot(name) // forgets its progress in s.snap; its planned chunks are dropped
		s.forgetQueued(name)
		s.snapshotTable(tb)
	}
	return nil
}

// forgetQueued removes table name's snapshot progress from the positions of the changes that
// are queued but not handed over yet, so that no batch returned after a re-snapshot was
// applied carries the table's old progress (a checkpoint at such a batch would make a restart
// skip the new snapshot). Forgetting progress is always safe: it only makes a restart read the
// table's snapshot again. Items share states, so each distinct one is rewritten once.
func (s *Source) forgetQueued(name string) {
	done := map[*snapState]*snapState{}
	for i := range s.out {
		st := s.out[i].pos.Snap
		if st == nil {
			continue
		}
		n, ok := done[st]
		if !ok {
			n = st.without(name).reopened()
			done[st] = n
		}
		s.out[i].pos.Snap = n
	}
}
