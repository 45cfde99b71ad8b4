package oceanbase

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// resnapSource is handoverSource with what Resnapshot needs to run as if opened: the stream
// is between transactions and no Read runs, so Resnapshot applies the request itself.
func resnapSource(t *testing.T) *Source {
	s := handoverSource(t)
	s.opened = true
	s.readSem = make(chan struct{}, 1)
	s.wake = make(chan struct{}, 1)
	return s
}

func TestResnapshotForgetsDoneTableAndPlansIt(t *testing.T) {
	s := resnapSource(t)
	done := (&snapState{Tables: map[string]*tableProgress{}}).withChunk("shop.orders", keyRange{}, 3).finished()
	s.snap = done
	// a change queued before the request, not yet handed over: its position says done
	queued := item{c: &change.Change{Op: change.OpInsert}, pos: position{File: "binlog.000001", Pos: 4, Snap: done}}
	s.out = append(s.out, queued)

	if err := s.Resnapshot(context.Background(), []string{"Shop.Orders"}); err != nil {
		t.Fatal(err)
	}
	if s.snap.known("shop.orders") || s.snap.Finished {
		t.Fatalf("state after Resnapshot still has the table or is finished: %+v", s.snap)
	}
	if !done.isDone("shop.orders") || !done.Finished {
		t.Fatal("the old state changed: positions share it")
	}
	sn := s.snapper
	if len(sn.queue) != 1 || sn.queue[0].tb != s.tables["shop.orders"] || sn.queue[0].lo != nil {
		t.Fatalf("planner queue = %+v, want shop.orders from the start", sn.queue)
	}
	if s.out[0].pos.Snap.known("shop.orders") {
		t.Fatalf("the queued change's position still has the old progress: %+v", s.out[0].pos.Snap)
	}
	// every position handed over from now on makes a restart snapshot the table again
	resume := s.resumePos()
	for _, enc := range []change.Position{s.takeBatch().Position, resume.encode()} {
		p, err := decodePosition(enc)
		if err != nil {
			t.Fatal(err)
		}
		r := resnapSource(t)
		r.cfg.tables = []tableName{{DB: "shop", Name: "orders"}}
		todo := r.planResume(p.Snap.resumable())
		if len(todo) != 1 || todo[0].name() != "shop.orders" {
			t.Fatalf("restart from %s plans %v, want shop.orders", p, todo)
		}
	}
	if ps := s.Progress(); len(ps) != 1 || ps[0].Table != "shop.orders" || ps[0].Done || ps[0].RowsDone != 0 {
		t.Errorf("progress = %+v, want shop.orders not done, 0 rows", ps)
	}
}

func TestResnapshotRestartsSnapshotUnderWay(t *testing.T) {
	s := resnapSource(t)
	tb := s.tables["shop.orders"]
	s.snap = (&snapState{Tables: map[string]*tableProgress{}}).withChunk("shop.orders", keyRange{Hi: [][]byte{[]byte("100")}}, 100)
	sn := s.snapper
	s.snapshotTable(tb) // resumes after 100, epoch 1
	if len(sn.queue) != 1 || string(sn.queue[0].lo[0]) != "100" {
		t.Fatalf("setup: queue %+v", sn.queue)
	}
	inFlight := &chunkWork{id: "run-9", t: tb, epoch: sn.epoch["shop.orders"], r: keyRange{Lo: [][]byte{[]byte("100")}}}
	if err := s.Resnapshot(context.Background(), []string{"shop.orders"}); err != nil {
		t.Fatal(err)
	}
	if len(sn.queue) != 1 || sn.queue[0].lo != nil {
		t.Fatalf("queue = %+v, want one item from the start", sn.queue)
	}
	if sn.current(inFlight) {
		t.Error("a chunk of the old snapshot is still current: it would be recorded in the new one")
	}
	if s.snap.rows("shop.orders") != 0 || s.snap.known("shop.orders") {
		t.Errorf("old progress kept: %+v", s.snap)
	}
}

func TestResnapshotRefusals(t *testing.T) {
	s := resnapSource(t)
	before := (&snapState{Tables: map[string]*tableProgress{}}).withChunk("shop.orders", keyRange{}, 3).finished()
	s.snap = before
	for _, c := range []struct {
		tables []string
		want   string
	}{
		{[]string{"shop.orders", "shop.missing"}, "shop.missing"},
		{[]string{"nodot"}, `"nodot"`},
		{nil, "no table"},
	} {
		err := s.Resnapshot(context.Background(), c.tables)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resnapshot(%q) = %v, want an error naming %s", c.tables, err, c.want)
		}
	}
	if err := s.Resnapshot(context.Background(), []string{"shop.other"}); !errors.Is(err, ErrNotSelected) {
		t.Errorf("unselected: %v, want ErrNotSelected", err)
	}
	if s.snap != before || len(s.snapper.queue) != 0 {
		t.Errorf("a refused request changed the state: %+v, queue %v", s.snap, s.snapper.queue)
	}
	s.tables["shop.gone"] = nil // selected, dropped
	if err := s.Resnapshot(context.Background(), []string{"shop.gone"}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("dropped table: %v", err)
	}
	for _, m := range []string{ModeFull, ModeIncremental} {
		s.cfg.Mode = m
		if err := s.Resnapshot(context.Background(), []string{"shop.orders"}); err == nil || !strings.Contains(err.Error(), "mode "+m) {
			t.Errorf("mode %s: %v, want a refusal naming the mode", m, err)
		}
	}
}
