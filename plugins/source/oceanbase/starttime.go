package oceanbase

import (
	"context"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// ResolveTimestamp returns the position of the first binlog transaction that starts at or
// after ts (the current end when there is none), or ErrTooOld when ts is older than the
// oldest retained binlog.
func (s *Source) ResolveTimestamp(ctx context.Context, ts time.Time) (position, error) {
	end, err := s.currentPosition(ctx)
	if err != nil {
		return position{}, err
	}
	logs, err := s.binaryLogs(ctx)
	if err != nil {
		return position{}, err
	}
	files := make([]string, len(logs))
	for i, l := range logs {
		files[i] = l.name
	}
	cfg, err := s.syncerConfig()
	if err != nil {
		return position{}, err
	}
	// Scan each file from its start, newest first, until one starts before ts's second.
	// Binlog times have whole seconds: a file that starts in ts's second may be preceded by
	// transactions of that second in the previous file, so it is not the place to start.
	for i := len(files) - 1; i >= 0; i-- {
		first, p, found, err := scanFile(ctx, cfg, files[i], ts, end, i > 0)
		if err != nil {
			return position{}, err
		}
		if first.After(ts) && i == 0 {
			return position{}, fmt.Errorf("%w: %s < %s (start of %s)", ErrTooOld,
				ts.UTC().Format(time.RFC3339), first.UTC().Format(time.RFC3339), files[0])
		}
		if i > 0 && !first.Before(ts.Truncate(time.Second)) {
			continue
		}
		if !found {
			// no transaction at or after ts in this file: the next file's start
			if i+1 < len(files) {
				p = position{File: files[i+1], Pos: 4}
			} else {
				return end, nil
			}
		}
		if s.flavor == mysql.MariaDBFlavor {
			if g, err := s.binlogGTIDPos(ctx, p.File, p.Pos); err == nil {
				p.GTID = g
			}
		}
		return p, nil
	}
	return end, nil
}

// scanFile reads file from its start and returns its first event's time and the start of
// the first transaction at or after ts (found false if none before the file's end or end).
//
// With strict, a file whose first event is not before ts's second is not scanned further.
func scanFile(ctx context.Context, cfg replication.BinlogSyncerConfig, file string, ts time.Time, end position, strict bool) (first time.Time, p position, found bool, err error) {
	sy := replication.NewBinlogSyncer(cfg)
	defer sy.Close()
	st, err := sy.StartSync(mysql.Position{Name: file, Pos: 4})
	if err != nil {
		return first, p, false, fmt.Errorf("read binlog %s: %w", file, err)
	}
	var pos uint32 = 4
	inTx := false
	var gset mysql.GTIDSet // PREVIOUS_GTIDS plus the GTIDs before the start found (MySQL flavor)
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		e, err := st.GetEvent(cctx)
		cancel()
		if err != nil {
			return first, p, false, fmt.Errorf("read binlog %s: %w", file, err)
		}
		h := e.Header
		if rot, ok := e.Event.(*replication.RotateEvent); ok {
			if h.Timestamp != 0 && string(rot.NextLogName) != file {
				return first, p, false, nil // end of this file
			}
			continue
		}
		if h.Timestamp != 0 && first.IsZero() {
			first = time.Unix(int64(h.Timestamp), 0)
			if first.After(ts) || (strict && !first.Before(ts.Truncate(time.Second))) {
				return first, p, false, nil
			}
		}
		before := pos
		if h.LogPos > pos {
			pos = h.LogPos
		}
		start := false
		switch ev := e.Event.(type) {
		case *replication.PreviousGTIDsEvent:
			if gs, err := mysql.ParseMysqlGTIDSet(ev.GTIDSets); err == nil {
				gset = gs
			}
		case *replication.MariadbGTIDEvent:
			start, inTx = true, true
		case *replication.GTIDEvent:
			start, inTx = true, true
			if gset != nil && !time.Unix(int64(h.Timestamp), 0).Before(ts.Truncate(time.Second)) {
				break // the start: its GTID is not executed before it
			}
			if next, err := ev.GTIDNext(); err == nil && gset != nil {
				if err := gset.Update(next.String()); err != nil {
					gset = nil
				}
			}
		case *replication.QueryEvent:
			if !inTx {
				start = true
			}
			inTx = string(ev.Query) == "BEGIN"
		case *replication.XIDEvent:
			inTx = false
		}
		if start && !time.Unix(int64(h.Timestamp), 0).Before(ts.Truncate(time.Second)) {
			p := position{File: file, Pos: before}
			if gset != nil {
				p.GTID = gset.String() // the full set executed before the start (gtidset.go)
			}
			return first, p, true, nil
		}
		if file == end.File && pos >= end.Pos {
			return first, p, false, nil
		}
	}
}
