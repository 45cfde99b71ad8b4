package oceanbase

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
)

// SetTables implements sdk.TableSelector: the new selection is applied by whoever owns the
// stream (Read, or SetTables itself while no Read runs) at a transaction boundary of the
// binlog stream, so that a transaction's row changes are all counted under one selection
// (positions inside a transaction stay exact). It returns once the selection is in force.
//
// Removed tables produce no more changes (changes already queued are still delivered, and
// their snapshot stops). Added tables — exact names, and the catalog's base tables the
// patterns select minus the excludes (exact names are never excluded; the watermark table
// never joins) — join the stream at that boundary; in mode both their snapshot is read first
// with the watermark hand-over, its progress kept in the positions. Exact names that do not
// exist join when created. On error the previous selection stays in force.
func (s *Source) SetTables(ctx context.Context, in sdk.TableSelection) error {
	if !s.opened {
		return errors.New("oceanbase: SetTables before Open")
	}
	sel, err := parseSelection(in)
	if err != nil {
		return err
	}
	return s.submit(ctx, &selRequest{ctx: ctx, sel: sel, done: make(chan error, 1)})
}

// submit queues a request for the stream goroutine (a selection, or a re-snapshot) and waits
// until it was applied at a transaction boundary: by Read, or here while no Read runs.
func (s *Source) submit(ctx context.Context, r *selRequest) error {
	s.selMu.Lock()
	s.selPending = append(s.selPending, r)
	s.selWanted.Store(true)
	s.selMu.Unlock()
	s.wakeup()
	for {
		select {
		case err := <-r.done:
			return err
		case s.readSem <- struct{}{}:
			// no Read runs: apply it here if the stream is between transactions
			if s.cfg.Mode == ModeFull || s.bl == nil || !s.bl.tx.active {
				s.applySelections()
			}
			<-s.readSem
			select {
			case err := <-r.done:
				return err
			default:
			}
			t := time.NewTimer(20 * time.Millisecond) // inside a transaction: the next Read finishes it
			select {
			case err := <-r.done:
				t.Stop()
				return err
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			s.selMu.Lock()
			for i, x := range s.selPending {
				if x == r {
					s.selPending = append(s.selPending[:i:i], s.selPending[i+1:]...)
					s.selMu.Unlock()
					return ctx.Err()
				}
			}
			s.selMu.Unlock()
			return <-r.done // being applied: its SQL uses ctx and ends soon
		}
	}
}

var _ sdk.TableSelector = (*Source)(nil)
var _ sdk.ProgressReporter = (*Source)(nil)

// applySelections applies the pending SetTables (and Resnapshot) requests in order. The caller owns the
// stream state and is at a transaction boundary.
func (s *Source) applySelections() {
	s.selMu.Lock()
	reqs := s.selPending
	s.selPending = nil
	s.selWanted.Store(false)
	s.selMu.Unlock()
	for _, r := range reqs {
		if r.resnap != nil {
			r.done <- s.applyResnapshot(r.ctx, r.resnap)
			continue
		}
		r.done <- s.applySelection(r.ctx, r.sel)
	}
}

// applySelection resolves sel against the catalog, reads the schemas of the tables it adds
// and then (nothing can fail any more) switches to it.
func (s *Source) applySelection(ctx context.Context, sel selection) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	want, order, inCatalog, err := s.resolveSelection(ctx, sel)
	if err != nil {
		return err
	}
	added, err := s.joiningTables(ctx, want, order, inCatalog)
	if err != nil {
		return err
	}
	// record the change in the schema history, then switch (nothing can fail any more)
	var changed []histTable
	for k := range s.tables {
		if _, ok := want[k]; !ok {
			changed = append(changed, histTable{Key: k, DB: s.names[k].DB, Name: s.names[k].Name, Leave: true})
		}
	}
	for _, j := range added {
		if j.tb != nil {
			changed = append(changed, histOf(j.k, j.n, j.tb, j.tb.t.Version))
		}
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].Key < changed[j].Key })
	if err := s.hist.record(ctx, "selection", "", "", changed); err != nil {
		return fmt.Errorf("oceanbase: %w", err)
	}
	s.switchSelection(sel, want, added)
	return nil
}

// resolveSelection lists what sel selects in the catalog now: each table by its lower-case
// "db.table" (want), in selection order, and the catalog by the same keys. Exact names the
// catalog lacks are selected (they join when created); an exact name that is not a base
// table is an error.
func (s *Source) resolveSelection(ctx context.Context, sel selection) (want map[string]tableName, order []string,
	inCatalog map[string]catalogEntry, err error) {
	cat, err := catalog(ctx, s.db)
	if err != nil {
		return nil, nil, nil, err
	}
	inCatalog = map[string]catalogEntry{}
	for _, e := range cat {
		inCatalog[strings.ToLower(e.name.String())] = e
	}
	want = map[string]tableName{}
	add := func(n tableName) {
		k := strings.ToLower(n.String())
		if _, ok := want[k]; !ok {
			want[k] = n
			order = append(order, k)
		}
	}
	for _, n := range sel.exact {
		if strings.EqualFold(n.Name, WatermarkTable) {
			continue
		}
		if e, ok := inCatalog[strings.ToLower(n.String())]; ok {
			if e.ttype != "BASE TABLE" {
				return nil, nil, nil, fmt.Errorf("oceanbase: %s is a %s: %w", e.name, strings.ToLower(e.ttype), ErrNotBaseTable)
			}
			n = e.name
		}
		add(n)
	}
	for _, e := range cat {
		if e.ttype == "BASE TABLE" && sel.wants(e.name) {
			add(e.name)
		}
	}
	return want, order, inCatalog, nil
}

// joining is a table that joins the selection: tb is its schema, nil when it does not exist
// yet (it joins when created).
type joining struct {
	k  string
	n  tableName
	tb *table
}

// joiningTables reads the schemas of the wanted tables that are not selected yet.
func (s *Source) joiningTables(ctx context.Context, want map[string]tableName, order []string, inCatalog map[string]catalogEntry) ([]joining, error) {
	var added []joining
	for _, k := range order {
		if _, selected := s.tables[k]; selected {
			continue
		}
		n := want[k]
		if _, ok := inCatalog[k]; !ok {
			added = append(added, joining{k: k, n: n})
			continue
		}
		version := uint64(1)
		if v, ok := s.lastVersion[k]; ok {
			version = v + 1
		}
		tb, err := loadTable(ctx, s.db, s.cfg.tenant, n, version)
		if err != nil {
			if isNoTable(err) { // dropped since the catalog was read: joins when created
				added = append(added, joining{k: k, n: n})
				continue
			}
			return nil, fmt.Errorf("oceanbase: add %s: %w", n, err)
		}
		added = append(added, joining{k: k, n: n, tb: tb})
	}
	return added, nil
}

// switchSelection makes sel the selection: the tables it no longer wants leave (their
// snapshots and windows end), the added ones join, and in modes with a snapshot theirs starts.
func (s *Source) switchSelection(sel selection, want map[string]tableName, added []joining) {
	for k, tb := range s.tables {
		if _, ok := want[k]; ok {
			continue
		}
		name := s.names[k].String()
		if tb != nil {
			name = tb.name()
		}
		delete(s.tables, k)
		delete(s.names, k)
		s.cancelSnapshot(name)
		s.forgetWindows(k)
	}
	s.sel = sel
	for _, j := range added {
		if j.tb == nil {
			continue
		}
		s.tables[j.k], s.names[j.k] = j.tb, j.n
		s.lastVersion[j.k] = j.tb.t.Version
		if s.cfg.Mode != ModeIncremental {
			s.cancelSnapshot(j.tb.name())
			s.snapshotTable(j.tb)
		}
	}
}

// forgetWindows drops the open snapshot windows of a table that left the selection (k: its
// lower-case "db.table"): its changes are no longer tracked, and its chunks are dropped at
// their high watermark.
func (s *Source) forgetWindows(k string) {
	if s.snapper == nil {
		return
	}
	delete(s.snapper.open, k)
}
