package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/plugin"
)

// Machine-readable output, one convention for every command that prints a result
// (validate, precheck, objects, status, plugins): -o table (the default, for people) or
// -o json (one JSON document on stdout, indented; errors still go to stderr and the exit
// code is the same as with table).
const (
	outputTable = "table"
	outputJSON  = "json"
)

// addOutputFlag adds -o/--output FORMAT to cmd.
func addOutputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", outputTable, "output format: table or json")
}

// checkOutput checks an -o value.
func checkOutput(format string) error {
	switch format {
	case outputTable, outputJSON:
		return nil
	}
	return withCode(ExitUsage, fmt.Errorf("-o %q: use table or json", format))
}

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// diagJSON is a diagnostic in -o json output.
type diagJSON struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
}

// diagCollector keeps the diagnostics of a load for -o json instead of rendering them.
type diagCollector struct {
	diags []diagJSON
}

func (c *diagCollector) add(ds hcl.Diagnostics, f *config.File) {
	for _, d := range ds {
		j := diagJSON{Severity: "error", Summary: f.ScrubText(d.Summary), Detail: f.ScrubText(d.Detail)}
		if d.Severity == hcl.DiagWarning {
			j.Severity = "warning"
		}
		if d.Subject != nil {
			j.File, j.Line, j.Column = d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
		}
		c.diags = append(c.diags, j)
	}
}

// fileJSON is what -o json prints for a pipeline file: validate's result, and the head of
// precheck's and objects' results.
type fileJSON struct {
	File        string       `json:"file"`
	Pipeline    string       `json:"pipeline,omitempty"`
	Valid       bool         `json:"valid"`
	Diagnostics []diagJSON   `json:"diagnostics"`
	Plugins     []pluginJSON `json:"plugins,omitempty"`
}

type pluginJSON struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Location string `json:"location"`
}

// loadForOutput loads a pipeline file; with -o json its diagnostics are collected into the
// returned head instead of being rendered on stderr.
func loadForOutput(ctx context.Context, g *globals, host *plugin.Host, path string, vars map[string]string, output string) (*loaded, fileJSON, error) {
	head := fileJSON{File: path, Diagnostics: []diagJSON{}}
	if output != outputJSON {
		l, err := load(ctx, g, host, path, vars, g.stderr)
		return l, head, err
	}
	g.collect = &diagCollector{}
	defer func() { g.collect = nil }()
	l, err := load(ctx, g, host, path, vars, io.Discard)
	head.Diagnostics = append(head.Diagnostics, g.collect.diags...)
	if l != nil {
		head.Valid, head.Pipeline = true, l.File.Pipeline.Name
		for _, inst := range l.Instances() {
			head.Plugins = append(head.Plugins, pluginJSON{Kind: string(inst.Ref.Kind), Name: inst.Ref.Name, Version: inst.Info.Version, Location: inst.Location})
		}
	}
	return l, head, err
}

// addTo adds ds when c is set (a nil collector ignores them).
func (c *diagCollector) addTo(ds hcl.Diagnostics, f *config.File) {
	if c != nil {
		c.add(ds, f)
	}
}
