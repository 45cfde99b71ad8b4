// Package defaultext is the "default_extend_column_type" serializer: OMS's
// DefaultExtendColumnType format, the Default format plus a "__light_type" object in each
// row image mapping every column to {"schemaType": "<MySQL type>"}.
package defaultext

import (
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/oms"
	"github.com/ferry-cdc/ferry/sdk"
)

// Name is the plugin's name.
const Name = "default_extend_column_type"

// New returns the "default_extend_column_type" serializer plugin.
func New() sdk.Serializer { return newSerializer() }

func newSerializer() *oms.Serializer {
	return oms.New(sdk.Info{Name: Name, Kind: sdk.KindSerializer, Version: oms.Version,
		Summary: "OMS DefaultExtendColumnType: the Default format plus each column's MySQL type in __light_type."}, true)
}
