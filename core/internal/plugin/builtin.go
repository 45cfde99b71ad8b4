package plugin

import (
	"github.com/ferry-cdc/ferry/sdk"
	exfilter "github.com/ferry-cdc/ferry/sdk/examples/filter"
	exserializer "github.com/ferry-cdc/ferry/sdk/examples/serializer"
	exsink "github.com/ferry-cdc/ferry/sdk/examples/sink"
	exsource "github.com/ferry-cdc/ferry/sdk/examples/source"

	"github.com/ferry-cdc/ferry/plugins/filter/expr"
	"github.com/ferry-cdc/ferry/plugins/serializer/canal"
	"github.com/ferry-cdc/ferry/plugins/serializer/dataworks"
	"github.com/ferry-cdc/ferry/plugins/serializer/debezium"
	"github.com/ferry-cdc/ferry/plugins/serializer/debeziumflatten"
	"github.com/ferry-cdc/ferry/plugins/serializer/debeziumsmt"
	defaultformat "github.com/ferry-cdc/ferry/plugins/serializer/default"
	"github.com/ferry-cdc/ferry/plugins/serializer/defaultext"
	"github.com/ferry-cdc/ferry/plugins/serializer/shareplex"
	"github.com/ferry-cdc/ferry/plugins/sink/rocketmq"
	"github.com/ferry-cdc/ferry/plugins/source/oceanbase"
)

// Builtins is the explicit table of plugins compiled into ferry. Add a plugin here, and
// nowhere else, to make it built in.
//
// The SDK's example plugins are built in too: the generator source (synthetic load for demos
// and benchmarks), the drop filter, the jsonl serializer and the file sink (for debugging a
// pipeline without a broker). They are built on the public SDK only, like every built-in.
func Builtins() []Builtin {
	return []Builtin{
		{Kind: sdk.KindSource, Name: "oceanbase", New: func() sdk.Plugin { return oceanbase.New() }},
		{Kind: sdk.KindSource, Name: "generator", New: func() sdk.Plugin { return exsource.New() }},
		{Kind: sdk.KindFilter, Name: "drop", New: func() sdk.Plugin { return exfilter.New() }},
		{Kind: sdk.KindFilter, Name: "expr", New: func() sdk.Plugin { return expr.New() }},
		{Kind: sdk.KindSerializer, Name: "jsonl", New: func() sdk.Plugin { return exserializer.New() }},
		{Kind: sdk.KindSink, Name: "file", New: func() sdk.Plugin { return exsink.New() }},
		{Kind: sdk.KindSink, Name: "rocketmq", New: func() sdk.Plugin { return rocketmq.New() }},

		// The eight message formats (docs/formats.md).
		{Kind: sdk.KindSerializer, Name: defaultformat.Name, New: func() sdk.Plugin { return defaultformat.New() }},
		{Kind: sdk.KindSerializer, Name: defaultext.Name, New: func() sdk.Plugin { return defaultext.New() }},
		{Kind: sdk.KindSerializer, Name: canal.Name, New: func() sdk.Plugin { return canal.New() }},
		{Kind: sdk.KindSerializer, Name: dataworks.Name, New: func() sdk.Plugin { return dataworks.New() }},
		{Kind: sdk.KindSerializer, Name: shareplex.Name, New: func() sdk.Plugin { return shareplex.New() }},
		{Kind: sdk.KindSerializer, Name: debezium.Name, New: func() sdk.Plugin { return debezium.New() }},
		{Kind: sdk.KindSerializer, Name: debeziumflatten.Name, New: func() sdk.Plugin { return debeziumflatten.New() }},
		{Kind: sdk.KindSerializer, Name: debeziumsmt.Name, New: func() sdk.Plugin { return debeziumsmt.New() }},
	}
}

// BuiltinRegistry returns a registry of Builtins.
func BuiltinRegistry() (*Registry, error) { return NewRegistry(Builtins()...) }
