// Command ferry-filter-drop serves the example "drop" filter plugin to ferry.
//
//	go build -o bin/plugins/ferry-filter-drop ./sdk/examples/filter/cmd
package main

import (
	"github.com/ferry-cdc/ferry/sdk/examples/filter"
	"github.com/ferry-cdc/ferry/sdk/protocol"
)

func main() { protocol.Serve(filter.New()) }
