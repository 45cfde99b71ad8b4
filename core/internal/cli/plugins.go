package cli

import (
	"context"
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
	// Used says whether a pipeline block naming this kind and name (without plugin_path)
	// gets this copy; UsedNote says which copy it gets otherwise.
	Used     bool   `json:"used"`
	UsedNote string `json:"used_note,omitempty"`
	Summary  string `json:"summary,omitempty"`
	Error    string `json:"error,omitempty"`
}

// pluginRows lists the built-ins, then every external executable in the plugin
// directories, each with whether a pipeline block gets it: a built-in wins over an
// executable of the same kind and name, an earlier directory over a later one.
func pluginRows(host *plugin.Host) []pluginRow {
	var rows []pluginRow
	builtin := map[string]bool{}
	for _, b := range host.Registry.All() {
		info := b.New().Info()
		builtin[string(b.Kind)+"/"+b.Name] = true
		rows = append(rows, pluginRow{Kind: string(b.Kind), Name: b.Name, Version: info.Version, Location: "built-in", Used: true, Summary: info.Summary})
	}
	for _, e := range plugin.DiscoverAll(host.Dirs) {
		row := pluginRow{Kind: string(e.Kind), Name: e.Name, Location: e.Path, Used: true}
		switch {
		case builtin[string(e.Kind)+"/"+e.Name]:
			row.Used, row.UsedNote = false, "the built-in is used; plugin_path runs this copy"
		case e.ShadowedBy != "":
			row.Used, row.UsedNote = false, e.ShadowedBy+" is used (an earlier plugin directory); plugin_path runs this copy"
		}
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
	for i := range rows {
		if rows[i].Location != "built-in" {
			continue
		}
		for _, r := range rows {
			if r.Location != "built-in" && r.Kind == rows[i].Kind && r.Name == rows[i].Name {
				rows[i].UsedNote = "also on disk: " + r.Location + " (not used)"
				break
			}
		}
	}
	return rows
}

func newPlugins(g *globals) *cobra.Command {
	var asJSON, asMarkdown bool
	var output string
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List built-in and installed plugins with their versions",
		Long: `plugins lists the built-in plugins and the external plugin executables
(ferry-<kind>-<name>) found in the plugin directories. External plugins are started briefly
to ask their version; one that fails to start is listed with the reason.

USED says which copy a pipeline block of that kind and name gets: the built-in wins over an
executable of the same name, and an earlier plugin directory over a later one; a block's
plugin_path runs a given executable instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				output = outputJSON
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			host, err := g.host()
			if err != nil {
				return withCode(ExitFailure, err)
			}
			defer host.Close()
			if asMarkdown {
				return writeReference(g.stdout, host.Registry)
			}
			rows := pluginRows(host)
			if output == outputJSON {
				return writeJSON(g.stdout, rows)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tNAME\tVERSION\tLOCATION\tUSED\tSUMMARY")
			for _, r := range rows {
				sum := r.Summary
				if r.Error != "" {
					sum = "error: " + r.Error
				}
				used := "yes"
				if !r.Used {
					used = "no"
				}
				if r.UsedNote != "" {
					used += " (" + r.UsedNote + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, r.Name, r.Version, r.Location, used, sum)
			}
			return tw.Flush()
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().BoolVar(&asJSON, "json", false, "the same as -o json")
	_ = cmd.Flags().MarkHidden("json")
	cmd.Flags().BoolVar(&asMarkdown, "markdown", false, "print the settings reference of the built-in plugins as Markdown")
	return cmd
}
