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
