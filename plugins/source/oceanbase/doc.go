// Package oceanbase is ferry's built-in source for OceanBase MySQL-mode tenants, MySQL and
// MariaDB. It reads table schemas and a chunked, parallel full snapshot over SQL
// (go-sql-driver/mysql) and row changes over the MySQL binlog replication protocol that the
// OceanBase Binlog Service speaks (go-mysql's replication package). The hand-over from
// snapshot to binlog uses watermark rows written to a helper table (DBLog), so it does not
// depend on SHOW MASTER STATUS being exact.
//
// Positions are opaque to the host; see position.go and docs/adr/0003 for their layout.
package oceanbase
