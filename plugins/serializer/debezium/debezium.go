// Package debezium is the "debezium" serializer: Debezium's MySQL change-event
// envelope as Kafka Connect's JSON converter writes it with schemas enabled:
// {"schema": {...}, "payload": {before, after, source, op, ts_ms, transaction}}.
// See docs/formats.md for the type mapping and the choices ferry made.
package debezium

import (
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/dbz"
	"github.com/ferry-cdc/ferry/sdk"
)

// Name is the plugin's name.
const Name = "debezium"

// New returns the "debezium" serializer plugin.
func New() sdk.Serializer { return newSerializer() }

func newSerializer() *dbz.Serializer {
	return dbz.New(sdk.Info{Name: Name, Kind: sdk.KindSerializer, Version: dbz.Version,
		Summary: "Debezium MySQL change-event envelope with its Kafka Connect schema (schemas enabled)."}, dbz.Envelope)
}
