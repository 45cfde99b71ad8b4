package oceanbase

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// MySQL-flavor GTID sets (MySQL 5.6+, the OceanBase Binlog Service) must be complete: a set
// with a gap ("uuid:K-M" where 1..K-1 ran before) sent with COM_BINLOG_DUMP_GTID makes the
// server resend everything before K from its oldest file, or fail ("The requested gtid
// transaction no longer exists"; the Binlog Service's dumper picks the first file whose
// PREVIOUS_GTIDS the set contains). So a set is only ever saved when it is known to be full:
// from SHOW MASTER STATUS's Executed_Gtid_Set, from a saved position, or from a file's
// PREVIOUS_GTIDS event plus the GTIDs of the transactions between it and the offset. Until
// then positions carry no set and resume by file and offset.

// errNoPreviousGTIDs: the binlog file has no PREVIOUS_GTIDS event (GTIDs off).
var errNoPreviousGTIDs = errors.New("no PREVIOUS_GTIDS event at the start of the binlog file")

// gtidScan accumulates the GTID set executed before offset until of a binlog file that is
// read from its start: its PREVIOUS_GTIDS event plus the GTIDs of the transactions that
// start before until.
type gtidScan struct {
	until uint32
	set   mysql.GTIDSet // nil until the PREVIOUS_GTIDS event
	done  bool
}

// feed takes the next event of the file.
func (g *gtidScan) feed(e *replication.BinlogEvent) error {
	h := e.Header
	switch ev := e.Event.(type) {
	case *replication.FormatDescriptionEvent:
		return nil
	case *replication.PreviousGTIDsEvent:
		set, err := mysql.ParseMysqlGTIDSet(ev.GTIDSets)
		if err != nil {
			return fmt.Errorf("PREVIOUS_GTIDS %q: %w", ev.GTIDSets, err)
		}
		g.set = set
	case *replication.GTIDEvent:
		if h.LogPos-h.EventSize >= g.until {
			g.done = true
			return nil
		}
		if g.set == nil {
			return fmt.Errorf("GTID event at %d before the PREVIOUS_GTIDS event: %w", h.LogPos-h.EventSize, errNoPreviousGTIDs)
		}
		next, err := ev.GTIDNext()
		if err != nil {
			return err
		}
		if err := g.set.Update(next.String()); err != nil {
			return err
		}
	}
	if h.LogPos != 0 && h.LogPos >= g.until && h.EventType != replication.FORMAT_DESCRIPTION_EVENT {
		if g.set == nil {
			return errNoPreviousGTIDs
		}
		g.done = true
	}
	return nil
}

// gtidSetAt returns the full GTID set executed before file:pos, read from the start of file
// over the replication protocol (binlog_address).
func (s *Source) gtidSetAt(ctx context.Context, file string, pos uint32) (string, error) {
	cfg, err := s.syncerConfig()
	if err != nil {
		return "", err
	}
	cfg.ServerID = s.serverID ^ 1<<30 // the stream's own id stays free for the stream
	if cfg.ServerID == 0 {
		cfg.ServerID = 1
	}
	sy := replication.NewBinlogSyncer(cfg)
	defer sy.Close()
	st, err := sy.StartSync(mysql.Position{Name: file, Pos: 4})
	if err != nil {
		return "", fmt.Errorf("read binlog %s: %w", file, err)
	}
	g := &gtidScan{until: pos}
	for !g.done {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		e, err := st.GetEvent(cctx)
		cancel()
		if err != nil {
			return "", fmt.Errorf("read binlog %s up to %d: %w", file, pos, err)
		}
		if rot, ok := e.Event.(*replication.RotateEvent); ok && e.Header.LogPos != 0 && string(rot.NextLogName) != file {
			if g.set == nil {
				return "", errNoPreviousGTIDs
			}
			break // the file ended before pos: everything in it ran before pos
		}
		if err := g.feed(e); err != nil {
			return "", fmt.Errorf("binlog %s: %w", file, err)
		}
	}
	return g.set.String(), nil
}

// completeGTID fills p's GTID set when the server uses MySQL-flavor GTIDs and p has none
// (a start from SHOW MASTER STATUS without Executed_Gtid_Set, a timestamp start at a file's
// start, a position saved before the set was known). It reports whether p's set is full; if
// not, the stream starts by file and offset and learns the set from the next PREVIOUS_GTIDS.
func (s *Source) completeGTID(ctx context.Context, p *position) bool {
	if !s.gtidMode || s.flavor == mysql.MariaDBFlavor || p.GTID != "" {
		return true
	}
	g, err := s.gtidSetAt(ctx, p.File, p.Pos)
	if err != nil {
		s.log.Warn("the GTID set at the start is unknown; positions resume by file and offset until the next binlog file's PREVIOUS_GTIDS",
			"at", p.String(), "err", err)
		return false
	}
	p.GTID = g
	return true
}
