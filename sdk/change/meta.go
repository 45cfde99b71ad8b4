package change

// Well-known keys of Change.Meta. Sources set those they know; serializers read them (for
// example Debezium's source.file, source.pos and source.server_id).
const (
	// MetaTenant is the OceanBase tenant, for changes without a Table (heartbeats, DDL of a
	// dropped table).
	MetaTenant = "tenant"
	// MetaBinlogFile is the binlog file name of the change's event ("mysql-bin.000003").
	MetaBinlogFile = "binlog_file"
	// MetaBinlogPos is the decimal offset of the change's event in that file.
	MetaBinlogPos = "binlog_pos"
	// MetaServerID is the decimal server id of the database that wrote the event.
	MetaServerID = "server_id"
	// MetaGTID is the GTID of the change's transaction, when the server uses GTIDs.
	MetaGTID = "gtid"
)

// Key changes. An UPDATE that changes the row's key columns (or its sharding columns) is
// handed to serializers as two changes: a DELETE of the old row (old key), then an INSERT of
// the new row (new key), so that each key's own stream shows the row leaving and arriving.
// Both carry these Meta keys; a serializer that knows nothing of them sends a plain DELETE
// and a plain INSERT.
const (
	// MetaKeyChange marks one half of a key change: KeyChangeDelete on the DELETE of the old
	// row, KeyChangeInsert on the INSERT of the new row.
	MetaKeyChange = "key_change"
	// MetaKeyChangeOf is the ID of the original UPDATE; the halves' own IDs are derived from it
	// (KeyChangeDeleteID, KeyChangeInsertID).
	MetaKeyChangeOf = "key_change_of"
	// MetaKeyChangeOtherKey is the other half's key: on the DELETE the new key, on the INSERT
	// the old key, as EncodeKey of the values of Table.KeyColumns() (of the table before any
	// column projection), in that order. DecodeKey reads it.
	MetaKeyChangeOtherKey = "key_change_other_key"

	KeyChangeDelete = "delete"
	KeyChangeInsert = "insert"
)

// KeyChangeDeleteID and KeyChangeInsertID are the IDs of the two halves of the key change of
// the UPDATE with ID id: stable (the same UPDATE read again gives the same IDs) and distinct.
func KeyChangeDeleteID(id string) string { return id + "/delete" }

// KeyChangeInsertID: see KeyChangeDeleteID.
func KeyChangeInsertID(id string) string { return id + "/insert" }

// Position of a row in its binlog event and the session that wrote it, for formats that name
// them (Debezium's source.row and source.thread). Sources set them when they know them.
const (
	// MetaBinlogRow is the decimal 0-based index of the row among the rows of its binlog rows
	// event (a multi-row INSERT, UPDATE or DELETE logs several rows in one event).
	MetaBinlogRow = "binlog_row"
	// MetaThreadID is the decimal id of the session (connection thread) that ran the
	// transaction, from the binlog's BEGIN query event.
	MetaThreadID = "thread_id"
)

// Snapshot markers. A source that reads a snapshot marks its first and last rows, overall
// and per table, with MetaSnapshot on OpSnapshot changes; formats that carry the mark
// (Debezium's source.snapshot) send it, the others ignore it. A snapshot row without the key
// is an ordinary one ("true" in Debezium). SnapshotMark gives the one value a row carries.
const (
	// MetaSnapshot holds one of the Snapshot* values below.
	MetaSnapshot = "snapshot"
	// SnapshotFirst marks the first row of the whole snapshot.
	SnapshotFirst = "first"
	// SnapshotFirstInTable marks the first row of a table's snapshot (not the first overall).
	SnapshotFirstInTable = "first_in_data_collection"
	// SnapshotLastInTable marks the last row of a table's snapshot (not the last overall).
	SnapshotLastInTable = "last_in_data_collection"
	// SnapshotLast marks the last row of the whole snapshot: no snapshot row follows until a
	// new snapshot starts (a table added, a re-snapshot).
	SnapshotLast = "last"
)

// SnapshotMark returns the MetaSnapshot value of a snapshot row from where it stands, with
// Debezium's precedence: last overall, first overall, last of its table, first of its table;
// "" for a row that is none of these (a table's only row is its last). A source that
// snapshots tables in parallel, without a first or last table, passes false for the overall
// positions except on the very first and the very last row it hands over.
func SnapshotMark(firstOverall, lastOverall, firstInTable, lastInTable bool) string {
	switch {
	case lastOverall:
		return SnapshotLast
	case firstOverall:
		return SnapshotFirst
	case lastInTable:
		return SnapshotLastInTable
	case firstInTable:
		return SnapshotFirstInTable
	}
	return ""
}
