package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
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
