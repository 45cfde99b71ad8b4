// Command ferry-source-generator serves the example "generator" source plugin to ferry.
//
//	go build -o bin/plugins/ferry-source-generator ./sdk/examples/source/cmd
package main

import (
	"github.com/ferry-cdc/ferry/sdk/examples/source"
	"github.com/ferry-cdc/ferry/sdk/protocol"
)

func main() { protocol.Serve(source.New()) }
