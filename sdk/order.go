package sdk

// OrderScope is the unit within which a sink keeps records in the order the host gives them:
// how far its partitioning lets order reach on the target.
type OrderScope string

// The order scopes, from the narrowest (most parallel) to the widest.
const (
	// OrderKey: records of one key (one Record.Hash) stay in order. The default, also for
	// sinks that do not declare a scope.
	OrderKey OrderScope = "key"
	// OrderTable: records of one table (Record.Database and Record.Table) stay in order,
	// whatever their key.
	OrderTable OrderScope = "table"
	// OrderAll: every record stays in order (one partition: total commit order).
	OrderAll OrderScope = "all"
)

// Valid reports whether s is one of the declared scopes ("" is not).
func (s OrderScope) Valid() bool { return s == OrderKey || s == OrderTable || s == OrderAll }

// OrderScoper is an optional interface of a Sink: it declares its ordering unit, which the
// host makes the unit of its write lanes. With OrderKey the host spreads records over its
// lanes by Record.Hash (different keys are written in parallel); with OrderTable all records
// of one table go through one lane (the lane is chosen by the FNV-1a 64 hash of "db.table");
// with OrderAll every record goes through one lane, in the source's commit order, so the
// target sees a transaction's records contiguous and in order. Wider scopes cost write
// parallelism.
//
// OrderScope is called once, after Configure (it may depend on the configuration) and before
// Open. A sink that does not implement it is treated as OrderKey. Out-of-process sinks that
// implement it have their scope carried by the plugin protocol's Configure reply.
type OrderScoper interface {
	OrderScope() OrderScope
}
