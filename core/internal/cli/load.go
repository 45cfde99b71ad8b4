package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/plugin"
	"github.com/ferry-cdc/ferry/sdk"
)

// loaded is a pipeline file with every plugin found, started and configured.
type loaded struct {
	file   *config.File
	source *plugin.Instance
	// sourceConfig is the source's settings as it was configured with (JSON).
	sourceConfig []byte
	filters      []*plugin.Instance
	serializer   *plugin.Instance
	sink         *plugin.Instance
	host         *plugin.Host // loads more instances (precheck's topic checks)
}

func (l *loaded) instances() []*plugin.Instance {
	out := []*plugin.Instance{l.source}
	out = append(out, l.filters...)
	return append(out, l.serializer, l.sink)
}

// load parses the file, loads each plugin, decodes its block against the plugin's spec and
// configures it. Every problem is a diagnostic pinned to the file; they are all rendered to
// w and, if any is an error, load returns an ExitConfig error.
func load(ctx context.Context, g *globals, host *plugin.Host, path string, vars map[string]string, w io.Writer) (*loaded, error) {
	f, diags := config.LoadFile(path, config.Options{Vars: vars})
	if f != nil {
		g.secrets.Set(f.Redactor())
		// The plugins' secret settings are known once their blocks are decoded.
		defer func() { g.secrets.Set(f.Redactor()) }()
	}
	if f == nil || f.Pipeline == nil {
		g.collect.addTo(diags, f)
		return nil, renderFail(w, diags, f)
	}
	if host.Pipeline == "" {
		host.Pipeline = f.Pipeline.Name // plugins' log lines name their pipeline
	}
	// Check every plugin block that parsed even when the pipeline's own structure has
	// errors, so one run of validate reports everything.
	all := append(hcl.Diagnostics{}, diags...)
	insts := map[*config.PluginBlock]*plugin.Instance{}
	var sourceCfg []byte
	for _, b := range f.Pipeline.Plugins() {
		if b.Name == "" {
			continue
		}
		var patch func(sdk.Spec, []byte) ([]byte, hcl.Diagnostics)
		var quiet func(string) bool
		if b == &f.Pipeline.Source {
			inner := sourcePatch(b, f.Pipeline)
			patch = func(spec sdk.Spec, cfg []byte) ([]byte, hcl.Diagnostics) {
				out, d := inner(spec, cfg)
				sourceCfg = out
				return out, d
			}
			quiet = hostFilledFromBadBlock(b, f.Pipeline)
		}
		inst, d := loadPlugin(ctx, g.logger, host, b, patch, quiet)
		all = append(all, d...)
		insts[b] = inst
	}
	if all.HasErrors() {
		config.SortDiagnostics(all)
		g.collect.addTo(all, f)
		return nil, renderFail(w, all, f)
	}
	if len(all) > 0 {
		config.SortDiagnostics(all)
		g.collect.addTo(all, f)
		_ = config.WriteDiagnostics(w, all, f, false)
	}
	p := f.Pipeline
	l := &loaded{file: f, source: insts[&p.Source], sourceConfig: sourceCfg, serializer: insts[&p.Serializer], sink: insts[&p.Sink], host: host}
	for i := range p.Filters {
		l.filters = append(l.filters, insts[&p.Filters[i]])
	}
	for _, inst := range l.instances() {
		if inst == nil {
			// Cannot happen once the file has no errors; guard the wiring anyway.
			return nil, withCode(ExitConfig, fmt.Errorf("%s: the pipeline is missing a plugin", path))
		}
	}
	return l, nil
}

func renderFail(w io.Writer, diags hcl.Diagnostics, f *config.File) error {
	config.SortDiagnostics(diags)
	if f != nil {
		_ = config.WriteDiagnostics(w, diags, f, false)
	} else {
		for _, d := range diags {
			fmt.Fprintf(w, "Error: %s\n  %s\n", d.Summary, d.Detail)
		}
	}
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return withCode(ExitConfig, fmt.Errorf("the pipeline file has %d error(s)", n))
}

// hostFilledFromBadBlock returns which of the source's attribute errors are about a value
// the host filled from an objects block whose every entry was refused (already reported at
// the entry): "needs at least one table" would only repeat that. Nil when there is none.
func hostFilledFromBadBlock(b *config.PluginBlock, p *config.Pipeline) func(string) bool {
	if !p.Objects.Present || blockSets(b, "tables") {
		return nil
	}
	if include, _ := p.Objects.SourceTables(); len(include) > 0 {
		return nil
	}
	return func(attr string) bool { return attr == "tables" || strings.HasPrefix(attr, "tables[") }
}

// loadPlugin loads and configures the plugin of block b. patch, when set, rewrites the
// decoded settings before Configure; the plugin's attribute errors for which quiet returns
// true are dropped (the fault was reported elsewhere).
func loadPlugin(ctx context.Context, log *zap.Logger, host *plugin.Host, b *config.PluginBlock,
	patch func(sdk.Spec, []byte) ([]byte, hcl.Diagnostics), quiet func(string) bool) (*plugin.Instance, hcl.Diagnostics) {
	ref := plugin.Ref{Kind: b.Kind, Name: b.Name, Path: b.Path, OutOfProcess: b.OutOfProcess}
	inst, err := host.Load(ctx, ref)
	if err != nil {
		summary := "Plugin not found"
		var ve *plugin.VersionError
		switch {
		case errors.Is(err, plugin.ErrNotFound):
		case errors.As(err, &ve):
			summary = "Plugin speaks another protocol version"
		default:
			summary = "Plugin failed to start"
		}
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: err.Error(), Subject: b.LabelRange.Ptr()}}
	}
	spec := inst.Plugin.Spec()
	if err := spec.Validate(); err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Plugin declares an invalid configuration schema",
			Detail: fmt.Sprintf("%s plugin %q (%s): %v", b.Kind, b.Name, inst.Location, err), Subject: b.LabelRange.Ptr()}}
	}
	cfg, diags := b.Decode(spec, nil)
	if diags.HasErrors() {
		return nil, diags
	}
	if patch != nil {
		var d hcl.Diagnostics
		cfg, d = patch(spec, cfg)
		if diags = append(diags, d...); diags.HasErrors() {
			return nil, diags
		}
	}
	if err := inst.Plugin.Configure(ctx, sdk.NewConfig(cfg).WithLogger(inst.Logger)); err != nil {
		attrs := sdk.AttributeErrors(err)
		if quiet != nil && len(attrs) > 0 {
			var keep []*sdk.AttributeError
			for _, a := range attrs {
				if !quiet(a.Attribute) {
					keep = append(keep, a)
				}
			}
			if len(keep) == 0 {
				// Every complaint repeats an error reported elsewhere: the file fails there.
				return nil, diags
			}
			attrs = keep
		}
		if len(attrs) > 0 {
			diags = append(diags, b.AttributeDiagnostics(attrs)...)
		}
		if len(diags) == 0 || !diags.HasErrors() {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid plugin configuration",
				Detail: fmt.Sprintf("%s plugin %q: %v", b.Kind, b.Name, err), Subject: b.DefRange.Ptr()})
		}
		return nil, diags
	}
	log.Debug("plugin configured", zap.String("plugin", b.Name), zap.String("kind", string(b.Kind)), zap.String("location", inst.Location))
	return inst, diags
}

// sourcePatch fills source settings that the pipeline decides: the tables from the objects
// block, and from the resources block the snapshot readers (snapshot_concurrency) and the
// log reader's memory (reader_memory), each only when the source declares the attribute.
// A source block that sets an attribute the resources block also sets is an error.
func sourcePatch(b *config.PluginBlock, p *config.Pipeline) func(sdk.Spec, []byte) ([]byte, hcl.Diagnostics) {
	var tables func(sdk.Spec, []byte) ([]byte, hcl.Diagnostics)
	if p.Objects.Present {
		tables = sourceTablesPatch(b, &p.Objects)
	}
	return func(spec sdk.Spec, cfg []byte) ([]byte, hcl.Diagnostics) {
		var diags hcl.Diagnostics
		if tables != nil {
			cfg, diags = tables(spec, cfg)
		}
		res := &p.Resources
		fill := map[string]struct {
			res string
			v   int64
		}{
			"snapshot_concurrency": {config.ResFullReadConcurrency, int64(res.FullReadConcurrency)},
			"reader_memory":        {config.ResLogReaderMemory, res.LogReaderMemory},
		}
		m := map[string]json.RawMessage{}
		changed := false
		for attr, r := range fill {
			if r.v == 0 {
				continue
			}
			a, ok := spec.Attribute(attr)
			if !ok || (a.Type != sdk.TypeInt && a.Type != sdk.TypeSize) {
				continue
			}
			if rng, set := blockAttrRange(b, attr); set {
				resRng, _ := res.ValueRange(r.res)
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Conflicting %s and resources", attr),
					Detail: fmt.Sprintf("Set either %s in the source block or resources.%s (line %d of %s), not both.",
						attr, r.res, resRng.Start.Line, resRng.Filename),
					Subject: rng.Ptr(),
				})
				continue
			}
			if !changed {
				if err := json.Unmarshal(cfg, &m); err != nil {
					return cfg, diags
				}
				changed = true
			}
			m[attr] = json.RawMessage(strconv.FormatInt(r.v, 10))
		}
		if changed {
			if out, err := json.Marshal(m); err == nil {
				cfg = out
			}
		}
		return cfg, diags
	}
}

// blockAttrRange returns the expression range of an attribute a plugin block sets.
func blockAttrRange(b *config.PluginBlock, name string) (hcl.Range, bool) {
	if b.Body == nil {
		return hcl.Range{}, false
	}
	content, _, _ := b.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	a, ok := content.Attributes[name]
	if !ok {
		return hcl.Range{}, false
	}
	return a.Expr.Range(), true
}
