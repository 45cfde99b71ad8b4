package change

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"time"
	"unsafe"
)

// Position is a source position: opaque bytes that only the source that made them reads.
// Resuming a source at a position delivers the changes after it.
type Position []byte

// Change is one row change, DDL or heartbeat.
type Change struct {
	// ID is a stable unique id of the change: the same change read again after a restart
	// has the same ID, so consumers can de-duplicate.
	ID string
	// Op is the kind of change.
	Op Op
	// Table is the schema the row images follow. Nil for heartbeats; for DDL, the schema
	// after the statement when the table still exists.
	Table *Table
	// Database and TableName name the object (for DDL and heartbeats too, where known).
	Database, TableName string
	// Before is the row before the change (update, delete), in Table.Columns order.
	Before []Value
	// After is the row after the change (snapshot, insert, update), in Table.Columns order.
	After []Value
	// DDL is the statement of an OpDDL change.
	DDL string
	// CommitTime is the commit time of the transaction (the read time for snapshot rows).
	CommitTime time.Time
	// TxID identifies the transaction (a GTID or an XID); empty for snapshot rows.
	TxID string
	// TxSeq is the change's 1-based place among the row changes of its transaction, and
	// TxSize their number when known (0 otherwise).
	TxSeq, TxSize uint32
	// Position is the source position of this change.
	Position Position
	// Topic, when set (by a filter or by object routing), overrides the sink's default
	// destination.
	Topic string
	// Meta carries extra string attributes from sources and filters.
	Meta map[string]string
}

// Row returns the image that identifies the row: After, or Before for deletes.
func (c *Change) Row() []Value {
	if c.Op == OpDelete || c.After == nil {
		return c.Before
	}
	return c.After
}

// Validate checks that the change is well-formed for its operation.
func (c *Change) Validate() error {
	if c.ID == "" {
		return fmt.Errorf("change without id")
	}
	switch c.Op {
	case OpSnapshot, OpInsert, OpUpdate, OpDelete:
		if c.Table == nil {
			return fmt.Errorf("change %s: %s without table schema", c.ID, c.Op)
		}
		n := len(c.Table.Columns)
		needBefore := c.Op == OpUpdate || c.Op == OpDelete
		needAfter := c.Op != OpDelete
		if needBefore && len(c.Before) != n {
			return fmt.Errorf("change %s: %s of %s has %d before values for %d columns", c.ID, c.Op, c.Table.QualifiedName(), len(c.Before), n)
		}
		if needAfter && len(c.After) != n {
			return fmt.Errorf("change %s: %s of %s has %d after values for %d columns", c.ID, c.Op, c.Table.QualifiedName(), len(c.After), n)
		}
	case OpDDL:
		if c.DDL == "" {
			return fmt.Errorf("change %s: ddl without statement", c.ID)
		}
	case OpHeartbeat:
	default:
		return fmt.Errorf("change %s: invalid operation %d", c.ID, c.Op)
	}
	return nil
}

// KeyHash hashes the values of the given columns of the change's identifying row (FNV-1a
// over kind and canonical bytes). Changes of one key always hash alike, whatever their
// operation, so they can be kept in order on one lane or queue. cols nil means the table's
// KeyColumns. Non-row changes hash their qualified table name.
func (c *Change) KeyHash(cols []int) uint64 {
	h := fnv.New64a()
	if !c.Op.IsRow() || c.Table == nil {
		h.Write([]byte(c.Database))
		h.Write([]byte{0})
		h.Write([]byte(c.TableName))
		return h.Sum64()
	}
	if cols == nil {
		cols = c.Table.KeyColumns()
	}
	h.Write([]byte(c.Table.Database))
	h.Write([]byte{0})
	h.Write([]byte(c.Table.Name))
	row := c.Row()
	var buf [9]byte
	for _, i := range cols {
		if i >= len(row) {
			continue
		}
		k, n, s := row[i].Raw()
		buf[0] = byte(k)
		binary.LittleEndian.PutUint64(buf[1:], n)
		h.Write(buf[:])
		h.Write([]byte(s))
		h.Write([]byte{0xff})
	}
	return h.Sum64()
}

// Batch is an ordered group of changes from a source. Position is where to resume after the
// whole batch (usually the position of its last change, or a later one for batches of
// heartbeats).
type Batch struct {
	Changes  []*Change
	Position Position
}

// ApproxSize estimates the bytes a change holds in memory, for memory budgets.
// changeSize is the size of the Change struct itself.
const changeSize = int(unsafe.Sizeof(Change{}))

func (c *Change) ApproxSize() int {
	n := changeSize + len(c.ID) + len(c.DDL) + len(c.Position) + len(c.TxID) + len(c.Topic)
	for i := range c.Before {
		n += 32 + len(c.Before[i].s)
	}
	for i := range c.After {
		n += 32 + len(c.After[i].s)
	}
	for k, v := range c.Meta {
		n += len(k) + len(v) + 32
	}
	return n
}
