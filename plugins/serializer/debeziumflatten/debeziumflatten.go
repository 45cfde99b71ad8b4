// Package debeziumflatten is the "debezium_flatten" serializer: the Debezium change-event payload
// alone, {before, after, source, op, ts_ms, transaction}, as with schemas disabled.
// See docs/formats.md for the type mapping and the choices ferry made.
package debeziumflatten

import (
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/dbz"
	"github.com/ferry-cdc/ferry/sdk"
)

// Name is the plugin's name.
const Name = "debezium_flatten"

// New returns the "debezium_flatten" serializer plugin.
func New() sdk.Serializer { return newSerializer() }

func newSerializer() *dbz.Serializer {
	return dbz.New(sdk.Info{Name: Name, Kind: sdk.KindSerializer, Version: dbz.Version,
		Summary: "Debezium change-event payload without schema (schemas disabled)."}, dbz.Flatten)
}
