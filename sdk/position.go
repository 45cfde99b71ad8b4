package sdk

import (
	"context"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// PositionDescriber is an optional interface of a Source: it says what one of its positions
// means, for people. Positions are opaque bytes to ferry; with this, `ferry status`, /status
// (position_text) and the pipeline's start and stop log lines show "mysql-bin.000003:4711
// gtid 0-1-42" instead of hex.
//
// DescribePosition may be called at any time after Configure (also before Open and
// concurrently with Read) and must not block on I/O: it decodes pos, nothing more. A position
// the source did not make is an error.
//
// Out-of-process sources that implement it are called through the plugin protocol (the
// "source.describe_position" capability).
type PositionDescriber interface {
	DescribePosition(ctx context.Context, pos change.Position) (string, error)
}
