// Command v99 is a plugin that speaks protocol version 99, which no ferry speaks: the tests
// check that a host refuses it with an error naming both versions.
package main

import (
	"fmt"
	"os"

	"github.com/ferry-cdc/ferry/sdk/examples/serializer"
	"github.com/ferry-cdc/ferry/sdk/protocol"
	"github.com/hashicorp/go-plugin"
)

func main() {
	cfg, err := protocol.ServeConfig(serializer.New())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg.ProtocolVersion = 99
	cfg.VersionedPlugins = map[int]plugin.PluginSet{99: cfg.VersionedPlugins[protocol.ProtocolVersion]}
	plugin.Serve(cfg)
}
