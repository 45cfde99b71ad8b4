// Command ferry-serializer-jsonl serves the example "jsonl" serializer plugin to ferry.
//
//	go build -o bin/plugins/ferry-serializer-jsonl ./sdk/examples/serializer/cmd
package main

import (
	"github.com/ferry-cdc/ferry/sdk/examples/serializer"
	"github.com/ferry-cdc/ferry/sdk/protocol"
)

func main() { protocol.Serve(serializer.New()) }
