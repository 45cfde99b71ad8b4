package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ferry-cdc/ferry/sdk"
)

// The host-filled settings of a source (sdk.HostSetting, ADR 0012): the pipeline file owns
// these values (the objects block, the resources block) and the host writes them into the
// source's decoded settings, under the name of the attribute that declares each one.

// Sets returns the expression range of an attribute the plugin block sets itself, and
// whether it sets it.
func (b *PluginBlock) Sets(name string) (hcl.Range, bool) {
	if b.Body == nil || name == "" {
		return hcl.Range{}, false
	}
	content, _, _ := b.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	a, ok := content.Attributes[name]
	if !ok {
		return hcl.Range{}, false
	}
	return a.Expr.Range(), true
}

// HostTablesFilled reports whether the host fills the source's tables from the objects
// block: the pipeline has one, the source declares sdk.HostTables, and the source block
// does not set that attribute itself. It returns the attribute's name.
func (p *Pipeline) HostTablesFilled(spec sdk.Spec) (string, bool) {
	if !p.Objects.Present {
		return "", false
	}
	a, ok := spec.HostAttribute(sdk.HostTables)
	if !ok {
		return "", false
	}
	if _, set := p.Source.Sets(a.Name); set {
		return "", false
	}
	return a.Name, true
}

// FillSource writes the host-filled settings into cfg, the source block's decoded settings
// (a JSON object, as PluginBlock.Decode returns): the tables and exclude patterns of the
// objects block, and resources.full_read_concurrency and resources.log_reader_memory. Each
// goes under the name of the attribute that declares its sdk.HostSetting; a source that
// declares none gets cfg back unchanged. A source block that sets an attribute the resources
// block also sets is an error at the attribute.
func (p *Pipeline) FillSource(spec sdk.Spec, cfg []byte) ([]byte, hcl.Diagnostics) {
	fill := map[string]any{}
	if name, ok := p.HostTablesFilled(spec); ok {
		include, exclude := p.Objects.SourceTables()
		fill[name] = nonNil(include)
		if a, ok := spec.HostAttribute(sdk.HostExcludeTables); ok {
			if _, set := p.Source.Sets(a.Name); !set {
				fill[a.Name] = nonNil(exclude)
			}
		}
	}
	var diags hcl.Diagnostics
	res := &p.Resources
	for _, r := range []struct {
		host sdk.HostSetting
		res  string
		v    int64
	}{
		{sdk.HostSnapshotConcurrency, ResFullReadConcurrency, int64(res.FullReadConcurrency)},
		{sdk.HostReaderMemory, ResLogReaderMemory, res.LogReaderMemory},
	} {
		a, ok := spec.HostAttribute(r.host)
		if !ok || r.v == 0 {
			continue
		}
		if rng, set := p.Source.Sets(a.Name); set {
			resRng, _ := res.ValueRange(r.res)
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Conflicting %s and resources", a.Name),
				Detail: fmt.Sprintf("Set either %s in the source block or resources.%s (line %d of %s), not both.",
					a.Name, r.res, resRng.Start.Line, resRng.Filename),
				Subject: rng.Ptr(),
			})
			continue
		}
		fill[a.Name] = r.v
	}
	if len(fill) == 0 || diags.HasErrors() {
		return cfg, diags
	}
	out, err := MergeJSON(cfg, fill)
	if err != nil {
		return cfg, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot fill the source's settings",
			Detail:   fmt.Sprintf("source plugin %q: %v (a bug in ferry: please report it)", p.Source.Name, err),
			Subject:  p.Source.DefRange.Ptr(),
		})
	}
	return out, diags
}

// HostFilledQuiet returns which of the source's attribute errors are about tables the host
// filled from an objects block whose every entry was refused (already reported at the
// entry): "needs at least one table" would only repeat that. Nil when there is none.
func (p *Pipeline) HostFilledQuiet(spec sdk.Spec) func(attr string) bool {
	name, ok := p.HostTablesFilled(spec)
	if !ok {
		return nil
	}
	if include, _ := p.Objects.SourceTables(); len(include) > 0 {
		return nil
	}
	return func(attr string) bool { return attr == name || strings.HasPrefix(attr, name+"[") }
}

// SourceTableSettings reads a source's own tables and exclude patterns (the attributes that
// declare sdk.HostTables and sdk.HostExcludeTables) from its settings cfg. ok is false when
// the source declares no tables setting or cfg does not set it.
func SourceTableSettings(spec sdk.Spec, cfg []byte) (include, exclude []string, ok bool, err error) {
	a, declared := spec.HostAttribute(sdk.HostTables)
	if !declared {
		return nil, nil, false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(cfg, &m); err != nil {
		return nil, nil, false, fmt.Errorf("source settings: %w", err)
	}
	raw, set := m[a.Name]
	if !set {
		return nil, nil, false, nil
	}
	if err := json.Unmarshal(raw, &include); err != nil {
		return nil, nil, false, fmt.Errorf("source setting %s: %w", a.Name, err)
	}
	if e, declared := spec.HostAttribute(sdk.HostExcludeTables); declared {
		if raw, set := m[e.Name]; set {
			if err := json.Unmarshal(raw, &exclude); err != nil {
				return nil, nil, false, fmt.Errorf("source setting %s: %w", e.Name, err)
			}
		}
	}
	return include, exclude, true, nil
}

// WithoutHostTables returns cfg without the members the objects block fills (the attributes
// declaring sdk.HostTables and sdk.HostExcludeTables), so that two loads compare equal when
// only the objects block changed.
func WithoutHostTables(spec sdk.Spec, cfg []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(cfg, &m); err != nil {
		return nil, fmt.Errorf("source settings: %w", err)
	}
	for _, h := range []sdk.HostSetting{sdk.HostTables, sdk.HostExcludeTables} {
		if a, ok := spec.HostAttribute(h); ok {
			delete(m, a.Name)
		}
	}
	return json.Marshal(m)
}

// MergeJSON sets members of the JSON object cfg (decoded plugin settings).
func MergeJSON(cfg []byte, set map[string]any) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(cfg, &m); err != nil {
		return nil, fmt.Errorf("decoded settings are not a JSON object: %w", err)
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	for k, v := range set {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("setting %s: %w", k, err)
		}
		m[k] = raw
	}
	return json.Marshal(m)
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
