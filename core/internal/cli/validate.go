package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-cdc/ferry/core/internal/plugin"
)

func parseVars(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, withCode(ExitUsage, fmt.Errorf("--var %q: use NAME=VALUE", kv))
		}
		out[k] = v
	}
	return out, nil
}

func (g *globals) host() (*plugin.Host, error) {
	reg, err := plugin.BuiltinRegistry()
	if err != nil {
		return nil, err
	}
	return &plugin.Host{Registry: reg, Dirs: g.dirs(), Logger: g.logger}, nil
}

func newValidate(g *globals) *cobra.Command {
	var vars []string
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a pipeline file: syntax, plugin settings and every plugin's own checks",
		Long: `validate decodes the pipeline file, finds every plugin it names, decodes each plugin's
settings against the schema the plugin declares, and lets each plugin check them. Every
problem is reported with file:line:column. Nothing is connected to or written.
-o json prints {file, pipeline, valid, diagnostics, plugins} on stdout instead.

Exit codes: 0 valid, 3 invalid (or a plugin could not be found or started), 2 wrong usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			host, err := g.host()
			if err != nil {
				return withCode(ExitFailure, err)
			}
			defer host.Close()
			l, head, err := loadForOutput(cmd.Context(), g, host, args[0], vs, output)
			if output == outputJSON {
				if werr := writeJSON(g.stdout, head); werr != nil {
					return werr
				}
				return err
			}
			if err != nil {
				return err
			}
			p := l.File.Pipeline
			fmt.Fprintf(g.stdout, "%s: pipeline %q is valid\n", args[0], p.Name)
			for _, inst := range l.Instances() {
				fmt.Fprintf(g.stdout, "  %-10s %-12s %s (%s)\n", inst.Ref.Kind, inst.Ref.Name, inst.Info.Version, inst.Location)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: NAME=VALUE (repeatable; overrides FERRY_VAR_NAME and defaults)")
	addOutputFlag(cmd, &output)
	return cmd
}
