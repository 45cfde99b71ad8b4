package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ferry-cdc/ferry/sdk"
)

// Resources is the pipeline's resources block (OMS "Resource Configuration"): concurrency
// and memory of the full (snapshot) and incremental phases, from a preset and/or explicit
// values.
//
//	resources {
//	  preset                        = "medium"   # small, medium or large (optional)
//	  full_read_concurrency         = 4          # 1..64
//	  full_write_concurrency        = 4          # 1..256
//	  full_memory                   = "512MiB"   # >= 1MiB
//	  log_reader_memory             = "256MiB"   # >= 1MiB
//	  incremental_write_concurrency = 4          # 1..256
//	  incremental_memory            = "256MiB"   # >= 1MiB
//	}
//
// Explicit attributes override the preset's values. A zero field is not configured: the
// runtime block (writers, max_in_flight_bytes) and the source's own settings apply.
type Resources struct {
	// Present is set when the pipeline file or a template has a resources block.
	Present bool
	// Preset is the preset in effect ("small", "medium", "large"), "" when none.
	Preset string
	// FullReadConcurrency is the number of parallel snapshot readers (the source's
	// snapshot_concurrency).
	FullReadConcurrency int
	// FullWriteConcurrency is the number of parallel write lanes during the snapshot.
	FullWriteConcurrency int
	// FullMemory bounds the bytes in flight during the snapshot.
	FullMemory int64
	// LogReaderMemory bounds the memory of the source's log reader (its reader_memory).
	LogReaderMemory int64
	// IncrementalWriteConcurrency is the number of parallel write lanes for changes from
	// the log.
	IncrementalWriteConcurrency int
	// IncrementalMemory bounds the bytes in flight for changes from the log.
	IncrementalMemory int64
	// DefRange is the block header (zero when there is none): in the pipeline file, else
	// in the last template that has a resources block.
	DefRange hcl.Range
	// Ranges maps the attributes whose values are in effect (preset included) to their
	// expressions. A value that comes from the preset has no entry of its own: see
	// ValueRange.
	Ranges map[string]hcl.Range

	presetRanges map[string]hcl.Range // value -> the preset (or phase preset) expression supplying it
}

// Resources attribute names.
const (
	ResPreset                      = "preset"
	ResFull                        = "full"
	ResIncremental                 = "incremental"
	ResFullReadConcurrency         = "full_read_concurrency"
	ResFullWriteConcurrency        = "full_write_concurrency"
	ResFullMemory                  = "full_memory"
	ResLogReaderMemory             = "log_reader_memory"
	ResIncrementalWriteConcurrency = "incremental_write_concurrency"
	ResIncrementalMemory           = "incremental_memory"
)

// Bounds of the resources values.
const (
	// MaxReadConcurrency bounds full_read_concurrency.
	MaxReadConcurrency = 64
	// MinResourceMemory bounds the memory values from below.
	MinResourceMemory = 1 << 20
)

// ResourcePresetNames are the presets, smallest first.
var ResourcePresetNames = []string{"small", "medium", "large"}

var resourcePresets = map[string]Resources{
	"small": {Preset: "small", FullReadConcurrency: 2, FullWriteConcurrency: 2, FullMemory: 256 << 20,
		LogReaderMemory: 128 << 20, IncrementalWriteConcurrency: 2, IncrementalMemory: 128 << 20},
	"medium": {Preset: "medium", FullReadConcurrency: 4, FullWriteConcurrency: 4, FullMemory: 512 << 20,
		LogReaderMemory: 256 << 20, IncrementalWriteConcurrency: 4, IncrementalMemory: 256 << 20},
	"large": {Preset: "large", FullReadConcurrency: 8, FullWriteConcurrency: 8, FullMemory: 1 << 30,
		LogReaderMemory: 512 << 20, IncrementalWriteConcurrency: 8, IncrementalMemory: 512 << 20},
}

// ResourcePreset returns the values of a preset (Preset set, Present, DefRange and Ranges
// zero), false for an unknown name.
func ResourcePreset(name string) (Resources, bool) {
	r, ok := resourcePresets[name]
	return r, ok
}

// phasePresets are the values a phase preset (full = "medium", incremental = "small") sets.
var phasePresets = map[string][]string{
	ResFull:        {ResFullReadConcurrency, ResFullWriteConcurrency, ResFullMemory},
	ResIncremental: {ResLogReaderMemory, ResIncrementalWriteConcurrency, ResIncrementalMemory},
}

var resourcesSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: ResPreset, Type: sdk.TypeString, Enum: ResourcePresetNames,
		Doc: "A set of values for every other attribute; explicit attributes override it."},
	{Name: ResFull, Type: sdk.TypeString, Enum: ResourcePresetNames,
		Doc: "A preset for the full phase only: full_read_concurrency, full_write_concurrency and full_memory; overrides preset."},
	{Name: ResIncremental, Type: sdk.TypeString, Enum: ResourcePresetNames,
		Doc: "A preset for the incremental phase only: log_reader_memory, incremental_write_concurrency and incremental_memory; overrides preset."},
	{Name: ResFullReadConcurrency, Type: sdk.TypeInt, Min: sdk.Bound(1), Max: sdk.Bound(MaxReadConcurrency),
		Doc: "Parallel snapshot readers."},
	{Name: ResFullWriteConcurrency, Type: sdk.TypeInt, Min: sdk.Bound(1), Max: sdk.Bound(MaxWriters),
		Doc: "Parallel write lanes during the snapshot."},
	{Name: ResFullMemory, Type: sdk.TypeSize, Min: sdk.Bound(MinResourceMemory),
		Doc: "Memory of the snapshot's changes in flight."},
	{Name: ResLogReaderMemory, Type: sdk.TypeSize, Min: sdk.Bound(MinResourceMemory),
		Doc: "Memory of the source's log reader."},
	{Name: ResIncrementalWriteConcurrency, Type: sdk.TypeInt, Min: sdk.Bound(1), Max: sdk.Bound(MaxWriters),
		Doc: "Parallel write lanes for changes from the log."},
	{Name: ResIncrementalMemory, Type: sdk.TypeSize, Min: sdk.Bound(MinResourceMemory),
		Doc: "Memory of the changes from the log in flight."},
}}

// get and set access the value of a resources attribute (0: not configured).
func (r *Resources) get(name string) int64 {
	switch name {
	case ResFullReadConcurrency:
		return int64(r.FullReadConcurrency)
	case ResFullWriteConcurrency:
		return int64(r.FullWriteConcurrency)
	case ResFullMemory:
		return r.FullMemory
	case ResLogReaderMemory:
		return r.LogReaderMemory
	case ResIncrementalWriteConcurrency:
		return int64(r.IncrementalWriteConcurrency)
	case ResIncrementalMemory:
		return r.IncrementalMemory
	}
	return 0
}

func (r *Resources) set(name string, v int64) {
	switch name {
	case ResFullReadConcurrency:
		r.FullReadConcurrency = int(v)
	case ResFullWriteConcurrency:
		r.FullWriteConcurrency = int(v)
	case ResFullMemory:
		r.FullMemory = v
	case ResLogReaderMemory:
		r.LogReaderMemory = v
	case ResIncrementalWriteConcurrency:
		r.IncrementalWriteConcurrency = int(v)
	case ResIncrementalMemory:
		r.IncrementalMemory = v
	}
}

// resourceValues are the value attributes (all but preset), in block order.
var resourceValues = []string{ResFullReadConcurrency, ResFullWriteConcurrency, ResFullMemory,
	ResLogReaderMemory, ResIncrementalWriteConcurrency, ResIncrementalMemory}

// ValueRange returns where the value of a resources attribute comes from: its own
// expression, else the preset's expression when the preset supplies it; false when the
// attribute is not configured.
func (r *Resources) ValueRange(name string) (hcl.Range, bool) {
	if rng, ok := r.Ranges[name]; ok {
		return rng, true
	}
	if name == ResPreset || r.get(name) == 0 {
		return hcl.Range{}, false
	}
	rng, ok := r.presetRanges[name]
	return rng, ok
}

// decodeResources decodes the (merged) resources block. Each file applies its preset, then
// its own attributes, over the files it wins against: an attribute set in the pipeline file
// beats a preset from a template, and a preset in the pipeline file beats attributes set in a
// template.
func (f *File) decodeResources(b *hcl.Block) (Resources, hcl.Diagnostics) {
	var r Resources
	if b == nil {
		return r, nil
	}
	r.Present, r.DefRange = true, b.DefRange
	dec, diags := f.blockAttrs(b, resourcesSpec, "the resources block")
	r.Ranges = map[string]hcl.Range{}

	// Candidates for each value, from the most specific file (lowest level) down; within a
	// file an explicit attribute beats a phase preset, which beats the preset.
	type candidate struct {
		level, rank int
		v           int64
		rng         hcl.Range
		explicit    bool
	}
	best := map[string]candidate{}
	offer := func(name string, c candidate) {
		if o, ok := best[name]; !ok || c.level < o.level || c.level == o.level && c.rank < o.rank {
			best[name] = c
		}
	}
	presetRanges := map[string]hcl.Range{} // value -> the preset attribute supplying it
	for rank, attr := range []string{ResFull, ResIncremental, ResPreset} {
		name, ok := dec.values[attr].(string)
		if !ok {
			continue
		}
		p, known := resourcePresets[name]
		r.Ranges[attr] = dec.ranges[attr]
		if attr == ResPreset {
			r.Preset = name
		}
		if !known {
			continue
		}
		names := resourceValues
		if attr != ResPreset {
			names = phasePresets[attr]
		}
		for _, v := range names {
			offer(v, candidate{level: f.level(dec.ranges[attr]), rank: 1 + rank, v: p.get(v), rng: dec.ranges[attr]})
		}
	}
	for _, name := range resourceValues {
		if v, ok := dec.values[name].(int64); ok {
			offer(name, candidate{level: f.level(dec.ranges[name]), rank: 0, v: v, rng: dec.ranges[name], explicit: true})
		}
	}
	for _, name := range resourceValues {
		c, ok := best[name]
		if !ok {
			continue
		}
		r.set(name, c.v)
		if c.explicit {
			r.Ranges[name] = c.rng
		} else {
			presetRanges[name] = c.rng
		}
	}
	r.presetRanges = presetRanges
	return r, diags
}

// resourceConflicts pairs a runtime attribute with the resources attributes that set the
// same thing per phase.
var resourceConflicts = []struct {
	runtime string
	res     []string
	what    string
}{
	{"writers", []string{ResFullWriteConcurrency, ResIncrementalWriteConcurrency}, "write concurrency"},
	{"max_in_flight_bytes", []string{ResFullMemory, ResIncrementalMemory}, "memory"},
}

// resolveResourceConflicts settles runtime attributes against the resources values that
// set the same thing per phase. Set in the same file, they conflict (an error at the
// runtime attribute); set in different files, the pipeline file (or the later template)
// wins: a resources value that loses is cleared, and a runtime value that loses applies
// only to the phases the resources block leaves unset.
func (f *File) resolveResourceConflicts(rt *Runtime, rs *Resources) hcl.Diagnostics {
	if !rs.Present {
		return nil
	}
	var diags hcl.Diagnostics
	for _, c := range resourceConflicts {
		rtRange, ok := rt.Ranges[c.runtime]
		if !ok {
			continue
		}
		rtLevel := f.level(rtRange)
		var same []string
		for _, name := range c.res {
			rng, ok := rs.ValueRange(name)
			if !ok {
				continue
			}
			switch lvl := f.level(rng); {
			case lvl == rtLevel:
				same = append(same, name)
			case lvl > rtLevel: // the runtime attribute is closer to the pipeline: it wins
				rs.set(name, 0)
				delete(rs.Ranges, name)
			}
		}
		if len(same) == 0 {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Conflicting runtime.%s and resources", c.runtime),
			Detail: fmt.Sprintf("Set either runtime.%s or the %s in the resources block, not both: %s. runtime.%s applies to both phases; %s set it per phase.",
				c.runtime, c.what, f.describeResources(rs, same, rtRange), c.runtime, strings.Join(c.res, " and ")),
			Subject: rtRange.Ptr(),
		})
	}
	return diags
}

// describeResources says where resources values are set, relative to the file of from:
// `resources.full_memory is set on line 12` or `resources.preset "medium" on line 3 of
// base.hcl sets full_write_concurrency = 4 and incremental_write_concurrency = 4`.
func (f *File) describeResources(rs *Resources, names []string, from hcl.Range) string {
	var explicit, fromPreset []string
	for _, name := range names {
		if _, ok := rs.Ranges[name]; ok {
			explicit = append(explicit, name)
		} else {
			fromPreset = append(fromPreset, name)
		}
	}
	var parts []string
	for _, name := range explicit {
		parts = append(parts, fmt.Sprintf("resources.%s is set on %s", name, lineOf(rs.Ranges[name], from)))
	}
	if len(fromPreset) > 0 {
		var sets []string
		for _, name := range fromPreset {
			sets = append(sets, fmt.Sprintf("%s = %s", name, formatResource(name, rs.get(name))))
		}
		parts = append(parts, fmt.Sprintf("resources.preset %q on %s sets %s",
			rs.Preset, lineOf(rs.Ranges[ResPreset], from), strings.Join(sets, " and ")))
	}
	return strings.Join(parts, ", and ")
}

// lineOf is "line N", or "line N of FILE" when rng is in another file than from.
func lineOf(rng, from hcl.Range) string {
	if rng.Filename != from.Filename {
		return fmt.Sprintf("line %d of %s", rng.Start.Line, rng.Filename)
	}
	return fmt.Sprintf("line %d", rng.Start.Line)
}

func formatResource(name string, v int64) string {
	if strings.HasSuffix(name, "_memory") {
		return fmt.Sprintf("%q", formatSize(float64(v)))
	}
	return fmt.Sprintf("%d", v)
}
