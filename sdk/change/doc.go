// Package change is ferry's change-event model: what a source reads, filters see, serializers
// turn into messages and the runtime orders and acknowledges.
//
// A Change is one row change (snapshot row, insert, update, delete) or one DDL or heartbeat
// record. Row images are slices of Value in the table's column order, described by a shared
// *Table schema. Values carry every MySQL type exactly: integers keep their signedness,
// DECIMAL keeps its text, temporal values keep fractional seconds and zero dates, bytes stay
// bytes. Positions are opaque to everything but the source that made them.
package change
