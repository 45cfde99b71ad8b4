package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-cdc/ferry/core/internal/plugin"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/protocol"
)

// newPluginServe is the hidden command the host runs to serve a built-in out of process.
func newPluginServe(g *globals) *cobra.Command {
	pluginCmd := &cobra.Command{Use: "plugin", Short: "Plugin utilities", Hidden: true}
	serve := &cobra.Command{
		Use:   "serve KIND/NAME",
		Short: "Serve a built-in plugin over the plugin protocol (run by ferry itself)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, ok := strings.Cut(args[0], "/")
			if !ok {
				return withCode(ExitUsage, fmt.Errorf("%q: use KIND/NAME, for example serializer/jsonl", args[0]))
			}
			reg, err := plugin.BuiltinRegistry()
			if err != nil {
				return withCode(ExitFailure, err)
			}
			b, ok := reg.Lookup(sdk.Kind(kind), name)
			if !ok {
				return withCode(ExitUsage, fmt.Errorf("no built-in %s plugin %q", kind, name))
			}
			protocol.Serve(b.New())
			return nil
		},
	}
	pluginCmd.AddCommand(serve)
	return pluginCmd
}
