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
