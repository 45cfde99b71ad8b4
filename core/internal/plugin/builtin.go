package plugin

import (
	"github.com/ferry-cdc/ferry/sdk"
	exfilter "github.com/ferry-cdc/ferry/sdk/examples/filter"
	exserializer "github.com/ferry-cdc/ferry/sdk/examples/serializer"
	exsink "github.com/ferry-cdc/ferry/sdk/examples/sink"
	exsource "github.com/ferry-cdc/ferry/sdk/examples/source"
)

// Builtins is the explicit table of plugins compiled into ferry. Add a plugin here, and
// nowhere else, to make it built in.
//
// The SDK's example plugins are built in too: the generator source (synthetic load for demos
// and benchmarks), the drop filter, the jsonl serializer and the file sink (for debugging a
// pipeline without a broker). They are built on the public SDK only, like every built-in.
func Builtins() []Builtin {
	return []Builtin{
		{Kind: sdk.KindSource, Name: "generator", New: func() sdk.Plugin { return exsource.New() }},
		{Kind: sdk.KindFilter, Name: "drop", New: func() sdk.Plugin { return exfilter.New() }},
		{Kind: sdk.KindSerializer, Name: "jsonl", New: func() sdk.Plugin { return exserializer.New() }},
		{Kind: sdk.KindSink, Name: "file", New: func() sdk.Plugin { return exsink.New() }},
	}
}

// BuiltinRegistry returns a registry of Builtins.
func BuiltinRegistry() (*Registry, error) { return NewRegistry(Builtins()...) }
