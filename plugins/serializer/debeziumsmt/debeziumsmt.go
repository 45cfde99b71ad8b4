// Package debeziumsmt is the "debezium_smt" serializer: the Debezium event after Debezium's
// ExtractNewRecordState transform: the row state (after, or before for deletes) as a flat
// object plus __op, __db, __table, __source_ts_ms and __deleted ("true" for deletes).
// See docs/formats.md for the type mapping and the choices ferry made.
package debeziumsmt

import (
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/dbz"
	"github.com/ferry-cdc/ferry/sdk"
)

// Name is the plugin's name.
const Name = "debezium_smt"

// New returns the "debezium_smt" serializer plugin.
func New() sdk.Serializer { return newSerializer() }

func newSerializer() *dbz.Serializer {
	return dbz.New(sdk.Info{Name: Name, Kind: sdk.KindSerializer, Version: dbz.Version,
		Summary: "Debezium event after ExtractNewRecordState: the flat row plus __op, __db, __table, __source_ts_ms, __deleted."}, dbz.SMT)
}
