package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/plugin"
	"github.com/ferry-cdc/ferry/sdk"
)

// writeReference writes the Markdown reference of every built-in plugin's settings, generated
// from the Spec each plugin declares (docs/plugins/reference.md; `make docs`).
func writeReference(w io.Writer, reg *plugin.Registry) error {
	var b strings.Builder
	b.WriteString("# Built-in plugin reference\n\n")
	b.WriteString("Generated from each plugin's declared settings by `make docs`; do not edit by hand.\n")
	b.WriteString("Every plugin block also takes `plugin_path` and `out_of_process` (see configuration.md).\n")
	kind := sdk.Kind("")
	for _, bi := range reg.All() {
		p := bi.New()
		info := p.Info()
		if bi.Kind != kind {
			kind = bi.Kind
			fmt.Fprintf(&b, "\n## %ss\n", strings.ToUpper(string(kind[:1]))+string(kind[1:]))
		}
		fmt.Fprintf(&b, "\n### %s `%s`\n\n%s\n\n", bi.Kind, bi.Name, info.Summary)
		attrs := p.Spec().Attributes
		if len(attrs) == 0 {
			b.WriteString("No settings.\n")
			continue
		}
		b.WriteString("| setting | type | default | description |\n|---|---|---|---|\n")
		for _, a := range attrs {
			def := "—"
			switch {
			case a.Required:
				def = "required"
			case a.Default != nil && a.Secret:
				def = "(secret)"
			case a.Default != nil:
				j, _ := json.Marshal(a.Default)
				def = "`" + string(j) + "`"
			}
			doc := a.Doc
			if len(a.Enum) > 0 {
				doc += " One of: `" + strings.Join(a.Enum, "`, `") + "`."
			}
			if a.Min != nil || a.Max != nil {
				doc += " Range: " + bound(a.Type, a.Min, "−∞") + " to " + bound(a.Type, a.Max, "∞") + "."
			}
			if a.Secret {
				doc += " Secret: never printed."
			}
			if from, ok := hostFilledFrom[a.Host]; ok {
				doc += " Filled by ferry " + from + "."
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", a.Name, a.Type, def, strings.ReplaceAll(doc, "|", `\|`))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// hostFilledFrom says where the host takes each sdk.HostSetting from, for the reference.
var hostFilledFrom = map[sdk.HostSetting]string{
	sdk.HostTables:              "from the pipeline's objects block when the source block does not set it",
	sdk.HostExcludeTables:       "from the objects block's exclude when the source block sets neither it nor the tables",
	sdk.HostSnapshotConcurrency: "from resources { full_read_concurrency }, when set there (setting both is an error)",
	sdk.HostReaderMemory:        "from resources { log_reader_memory }, when set there (setting both is an error)",
}

func bound(t sdk.Type, v *float64, none string) string {
	if v == nil {
		return none
	}
	return "`" + config.FormatBound(t, *v) + "`"
}
