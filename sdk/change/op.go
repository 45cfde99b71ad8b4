package change

import "fmt"

// Op is the kind of a change.
type Op uint8

const (
	// OpUnknown is the zero Op; no valid change carries it.
	OpUnknown Op = iota
	// OpSnapshot is a row read by the full (snapshot) sync.
	OpSnapshot
	// OpInsert is a committed INSERT.
	OpInsert
	// OpUpdate is a committed UPDATE with before and after images.
	OpUpdate
	// OpDelete is a committed DELETE with a before image.
	OpDelete
	// OpDDL is a schema change statement.
	OpDDL
	// OpHeartbeat carries no row; it advances positions and latency when the source is idle.
	OpHeartbeat
)

var opNames = [...]string{"unknown", "snapshot", "insert", "update", "delete", "ddl", "heartbeat"}

// String returns the lower-case name used in configuration, expressions and logs.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// ParseOp is the inverse of Op.String.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if n == s && i != 0 {
			return Op(i), nil
		}
	}
	return OpUnknown, fmt.Errorf("unknown operation %q", s)
}

// IsRow reports whether the change carries a row image.
func (o Op) IsRow() bool { return o >= OpSnapshot && o <= OpDelete }
