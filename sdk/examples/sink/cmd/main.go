// Command ferry-sink-file serves the example "file" sink plugin to ferry.
//
//	go build -o bin/plugins/ferry-sink-file ./sdk/examples/sink/cmd
package main

import (
	"github.com/ferry-cdc/ferry/sdk/examples/sink"
	"github.com/ferry-cdc/ferry/sdk/protocol"
)

func main() { protocol.Serve(sink.New()) }
