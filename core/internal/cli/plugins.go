package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-cdc/ferry/core/internal/plugin"
)

type pluginRow struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Location string `json:"location"`
	Summary  string `json:"summary,omitempty"`
	Error    string `json:"error,omitempty"`
}

func newPlugins(g *globals) *cobra.Command {
	var asJSON, asMarkdown bool
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List built-in and installed plugins with their versions",
		Long: `plugins lists the built-in plugins and the external plugin executables
(ferry-<kind>-<name>) found in the plugin directories. External plugins are started briefly
to ask their version; one that fails to start is listed with the reason.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, err := g.host()
			if err != nil {
				return withCode(ExitFailure, err)
			}
			defer host.Close()
			if asMarkdown {
				return writeReference(g.stdout, host.Registry)
			}
			var rows []pluginRow
			for _, b := range host.Registry.All() {
				info := b.New().Info()
				rows = append(rows, pluginRow{Kind: string(b.Kind), Name: b.Name, Version: info.Version, Location: "built-in", Summary: info.Summary})
			}
			for _, e := range plugin.Discover(host.Dirs) {
				row := pluginRow{Kind: string(e.Kind), Name: e.Name, Location: e.Path}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				inst, err := host.Load(ctx, plugin.Ref{Kind: e.Kind, Name: e.Name, Path: e.Path})
				cancel()
				if err != nil {
					row.Error = err.Error()
				} else {
					row.Version, row.Summary = inst.Info.Version, inst.Info.Summary
					inst.Kill()
				}
				rows = append(rows, row)
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tNAME\tVERSION\tLOCATION\tSUMMARY")
			for _, r := range rows {
				sum := r.Summary
				if r.Error != "" {
					sum = "error: " + r.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Kind, r.Name, r.Version, r.Location, sum)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&asMarkdown, "markdown", false, "print the settings reference of the built-in plugins as Markdown")
	return cmd
}
