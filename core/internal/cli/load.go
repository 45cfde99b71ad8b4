package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/plugin"
	"github.com/ferry-cdc/ferry/core/internal/runner"
	"github.com/ferry-cdc/ferry/sdk"
)

// loaded is a pipeline file with every plugin configured (runner.Loaded).
type loaded = runner.Loaded

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
		var fill *config.Pipeline
		if b == &f.Pipeline.Source {
			fill = f.Pipeline
		}
		inst, cfg, d := loadPlugin(ctx, g.logger, host, b, fill, nil)
		all = append(all, d...)
		insts[b] = inst
		if fill != nil {
			sourceCfg = cfg
		}
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
	l := &loaded{File: f, Source: insts[&p.Source], SourceConfig: sourceCfg, Serializer: insts[&p.Serializer], Sink: insts[&p.Sink], Host: host}
	for i := range p.Filters {
		l.Filters = append(l.Filters, insts[&p.Filters[i]])
	}
	for _, inst := range l.Instances() {
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

// loadPlugin loads and configures the plugin of block b and returns the settings it was
// configured with. fill, set for the source block, is the pipeline whose host-filled settings
// (sdk.HostSetting) go into the decoded settings before Configure; set, when not empty,
// replaces settings by name (precheck configures the sink with each topic in turn).
func loadPlugin(ctx context.Context, log *zap.Logger, host *plugin.Host, b *config.PluginBlock, fill *config.Pipeline, set map[string]any) (*plugin.Instance, []byte, hcl.Diagnostics) {
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
		return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: err.Error(), Subject: b.LabelRange.Ptr()}}
	}
	spec := inst.Plugin.Spec()
	if err := spec.Validate(); err != nil {
		return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Plugin declares an invalid configuration schema",
			Detail: fmt.Sprintf("%s plugin %q (%s): %v", b.Kind, b.Name, inst.Location, err), Subject: b.LabelRange.Ptr()}}
	}
	if fill == nil {
		for _, a := range spec.Attributes {
			if a.Host != "" {
				return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Plugin declares an invalid configuration schema",
					Detail:  fmt.Sprintf("%s plugin %q (%s): attribute %q: only sources take host-filled settings (host %q)", b.Kind, b.Name, inst.Location, a.Name, a.Host),
					Subject: b.LabelRange.Ptr()}}
			}
		}
	}
	cfg, diags := b.Decode(spec, nil)
	if diags.HasErrors() {
		return nil, nil, diags
	}
	var quiet func(string) bool
	if fill != nil {
		var d hcl.Diagnostics
		cfg, d = fill.FillSource(spec, cfg)
		if diags = append(diags, d...); diags.HasErrors() {
			return nil, nil, diags
		}
		quiet = fill.HostFilledQuiet(spec)
	}
	if len(set) > 0 {
		out, err := config.MergeJSON(cfg, set)
		if err != nil {
			return nil, nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot set the plugin's settings",
				Detail: fmt.Sprintf("%s plugin %q: %v (a bug in ferry: please report it)", b.Kind, b.Name, err), Subject: b.DefRange.Ptr()})
		}
		cfg = out
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
				return nil, nil, diags
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
		return nil, nil, diags
	}
	log.Debug("plugin configured", zap.String("plugin", b.Name), zap.String("kind", string(b.Kind)), zap.String("location", inst.Location))
	return inst, cfg, diags
}
