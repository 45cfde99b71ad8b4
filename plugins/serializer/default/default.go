// Package defaultformat is the "default" serializer: OceanBase Migration Service's Default
// JSON message format (prevStruct, postStruct, allMetaData, recordType). See
// docs/formats.md for the layout, the value encoding and the choices ferry made.
package defaultformat

import (
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/oms"
	"github.com/ferry-cdc/ferry/sdk"
)

// Name is the plugin's name.
const Name = "default"

// New returns the "default" serializer plugin.
func New() sdk.Serializer { return newSerializer() }

func newSerializer() *oms.Serializer {
	return oms.New(sdk.Info{Name: Name, Kind: sdk.KindSerializer, Version: oms.Version,
		Summary: "OMS Default JSON format: prevStruct, postStruct, allMetaData, recordType."}, false)
}
