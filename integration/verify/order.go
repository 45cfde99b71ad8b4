package verify

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ferry-cdc/ferry/integration/harness"
)

// CommitOrder is the verdict of CheckCommitOrder.
type CommitOrder struct {
	Messages     int // messages read
	Checked      int // messages with a binlog change id, checked (copies excluded)
	Transactions int // distinct transactions seen
	Units        int // ordering units (queues, or table × queue)
	Duplicates   int // messages whose ferry_id was seen before on the unit (not checked again)
	// Violations counts messages older (in binlog order) than one before them on their unit;
	// Interleaved counts messages of a transaction that reappears after another
	// transaction's messages on the unit (a transaction not contiguous).
	Violations  int
	Interleaved int
	Problems    []string // examples, up to 10
}

// OK reports whether the order held.
func (c CommitOrder) OK() bool { return c.Violations == 0 && c.Interleaved == 0 }

func (c CommitOrder) String() string {
	s := fmt.Sprintf("%d messages (%d checked, %d copies) of %d transactions on %d units: %d out of order, %d interleaved",
		c.Messages, c.Checked, c.Duplicates, c.Transactions, c.Units, c.Violations, c.Interleaved)
	if len(c.Problems) > 0 {
		s += "\n  " + strings.Join(c.Problems, "\n  ")
	}
	return s
}

func (c *CommitOrder) problem(format string, args ...any) {
	if len(c.Problems) < 10 {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
	}
}

// binlogOrder is a change's place in the binlog, from its documented change id
// "<transaction>#<n>" (docs/sources/oceanbase.md): the transaction is a MariaDB GTID
// "domain-server-seqno" (seqno increases in commit order within a domain), a MySQL GTID
// "uuid:n" (n increases per uuid) or "file:offset"; n is the change's index in its
// transaction.
type binlogOrder struct {
	group string // GTID domain or uuid; "" for file:offset
	file  string
	seq   uint64 // seqno, or file offset
	row   uint64
	tx    string
}

func (a binlogOrder) less(b binlogOrder) bool {
	if a.file != b.file {
		return a.file < b.file
	}
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	return a.row < b.row
}

// parseChangeID reads id; ok is false for ids that are not binlog row changes (snapshot rows,
// heartbeats, DDL).
func parseChangeID(id string) (binlogOrder, bool) {
	tx, n, found := strings.Cut(id, "#")
	if !found || strings.HasPrefix(id, "snapshot:") {
		return binlogOrder{}, false
	}
	row, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return binlogOrder{}, false
	}
	o := binlogOrder{row: row, tx: tx}
	if parts := strings.Split(tx, "-"); len(parts) == 3 && !strings.Contains(tx, ":") {
		seq, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return binlogOrder{}, false
		}
		o.group, o.seq = "mariadb:"+parts[0], seq
		return o, true
	}
	i := strings.LastIndexByte(tx, ':')
	if i < 0 {
		return binlogOrder{}, false
	}
	v, err := strconv.ParseUint(tx[i+1:], 10, 64)
	if err != nil {
		return binlogOrder{}, false
	}
	if strings.Count(tx[:i], "-") == 4 { // a MySQL server uuid
		o.group, o.seq = "mysql:"+tx[:i], v
	} else {
		o.file, o.seq = tx[:i], v
	}
	return o, true
}

// CheckCommitOrder checks that messages appear on their queue in the binlog's commit order:
// per queue (perTable false: total order, partitioning "one"), or per table on each queue
// (perTable true: partitioning "table"). Within a unit, every new message must come after
// the previous ones in binlog order (transaction order, then the change's index in the
// transaction), so a transaction's changes are contiguous and in order. It reads only the
// documented properties ferry_id, ferry_db and ferry_table; copies (a ferry_id seen before on
// the unit, resent after a restart) are counted and not checked again. msgs are sorted per
// queue first.
func CheckCommitOrder(msgs []harness.Received, perTable bool) CommitOrder {
	ms := append([]harness.Received(nil), msgs...)
	SortMessages(ms)
	type unitState struct {
		seen   map[string]bool
		last   map[string]binlogOrder // per GTID group
		lastTx string
		closed map[string]bool // transactions followed by another one on the unit
	}
	units := map[string]*unitState{}
	txs := map[string]bool{}
	var c CommitOrder
	for _, m := range ms {
		c.Messages++
		o, ok := parseChangeID(m.Properties[PropID])
		if !ok {
			continue
		}
		unit := queueOf(m)
		if perTable {
			unit += " " + m.Properties[PropDB] + "." + m.Properties[PropTable]
		}
		u := units[unit]
		if u == nil {
			u = &unitState{seen: map[string]bool{}, last: map[string]binlogOrder{}, closed: map[string]bool{}}
			units[unit] = u
		}
		id := m.Properties[PropID]
		if u.seen[id] {
			c.Duplicates++
			continue
		}
		u.seen[id] = true
		c.Checked++
		txs[o.group+"/"+o.tx] = true
		if last, ok := u.last[o.group]; ok && o.less(last) {
			c.Violations++
			c.problem("%s offset %d: %s after %s", unit, m.QueueOffset, id, last.tx+"#"+strconv.FormatUint(last.row, 10))
		} else {
			u.last[o.group] = o
		}
		if o.tx != u.lastTx {
			if u.closed[o.tx] {
				c.Interleaved++
				c.problem("%s offset %d: transaction %s continues after another transaction", unit, m.QueueOffset, o.tx)
			}
			if u.lastTx != "" {
				u.closed[u.lastTx] = true
			}
			u.lastTx = o.tx
		}
	}
	c.Units, c.Transactions = len(units), len(txs)
	return c
}
