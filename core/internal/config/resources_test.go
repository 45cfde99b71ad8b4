package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func pipelineWith(blocks string) string {
	return "pipeline \"p\" {\n  source \"s\" {}\n  serializer \"z\" {}\n  sink \"k\" {}\n" + blocks + "}\n"
}

// values strips the ranges for comparisons.
func values(r Resources) Resources {
	r.DefRange, r.Ranges, r.presetRanges = hcl.Range{}, nil, nil
	return r
}

func TestResourcePresets(t *testing.T) {
	want := map[string]Resources{
		"small":  {Present: true, Preset: "small", FullReadConcurrency: 2, FullWriteConcurrency: 2, FullMemory: 256 << 20, LogReaderMemory: 128 << 20, IncrementalWriteConcurrency: 2, IncrementalMemory: 128 << 20},
		"medium": {Present: true, Preset: "medium", FullReadConcurrency: 4, FullWriteConcurrency: 4, FullMemory: 512 << 20, LogReaderMemory: 256 << 20, IncrementalWriteConcurrency: 4, IncrementalMemory: 256 << 20},
		"large":  {Present: true, Preset: "large", FullReadConcurrency: 8, FullWriteConcurrency: 8, FullMemory: 1 << 30, LogReaderMemory: 512 << 20, IncrementalWriteConcurrency: 8, IncrementalMemory: 512 << 20},
	}
	for _, name := range ResourcePresetNames {
		f, diags := Parse("p.hcl", []byte(pipelineWith("  resources { preset = \""+name+"\" }\n")), Options{})
		noErrors(t, f, diags)
		if got := values(f.Pipeline.Resources); !reflect.DeepEqual(got, want[name]) {
			t.Errorf("%s: %+v\nwant %+v", name, got, want[name])
		}
		p, ok := ResourcePreset(name)
		p.Present = true
		if !ok || !reflect.DeepEqual(p, want[name]) {
			t.Errorf("ResourcePreset(%s) = %+v", name, p)
		}
		r := f.Pipeline.Resources
		if rng, ok := r.ValueRange(ResFullMemory); !ok || rng != r.Ranges[ResPreset] || rng.Start.Line != 5 {
			t.Errorf("%s: full_memory from %v", name, rng)
		}
	}
	if _, ok := ResourcePreset("huge"); ok {
		t.Error("unknown preset")
	}
}

func TestResourcesExplicit(t *testing.T) {
	// No block: nothing configured.
	f, diags := Parse("p.hcl", []byte(pipelineWith("")), Options{})
	noErrors(t, f, diags)
	if r := f.Pipeline.Resources; !reflect.DeepEqual(r, Resources{}) {
		t.Errorf("no block: %+v", r)
	}
	// Explicit values only; unset ones stay 0.
	f, diags = Parse("p.hcl", []byte(pipelineWith(`  resources {
    full_read_concurrency = 16
    full_memory           = "2GiB"
    incremental_memory    = 1048576
  }
`)), Options{})
	noErrors(t, f, diags)
	want := Resources{Present: true, FullReadConcurrency: 16, FullMemory: 2 << 30, IncrementalMemory: 1 << 20}
	r := f.Pipeline.Resources
	if !reflect.DeepEqual(values(r), want) {
		t.Errorf("explicit: %+v", r)
	}
	if _, ok := r.ValueRange(ResFullWriteConcurrency); ok {
		t.Error("full_write_concurrency is not configured")
	}
	if rng, ok := r.ValueRange(ResFullMemory); !ok || rng.Start.Line != 7 || rng.Start.Column != 29 {
		t.Errorf("full_memory range %v", rng)
	}
	if r.DefRange.Start.Line != 5 {
		t.Errorf("DefRange %v", r.DefRange)
	}
	// Explicit values override the preset's.
	f, diags = Parse("p.hcl", []byte(pipelineWith(`  resources {
    preset                        = "medium"
    full_read_concurrency         = 64
    incremental_write_concurrency = 256
    log_reader_memory             = "1GiB"
  }
`)), Options{})
	noErrors(t, f, diags)
	want = Resources{Present: true, Preset: "medium", FullReadConcurrency: 64, FullWriteConcurrency: 4, FullMemory: 512 << 20,
		LogReaderMemory: 1 << 30, IncrementalWriteConcurrency: 256, IncrementalMemory: 256 << 20}
	if got := values(f.Pipeline.Resources); !reflect.DeepEqual(got, want) {
		t.Errorf("override: %+v\nwant %+v", got, want)
	}
	if len(f.Pipeline.Resources.Ranges) != 4 {
		t.Errorf("ranges = %v", f.Pipeline.Resources.Ranges)
	}
	// Runtime settings without resources counterparts do not conflict.
	f, diags = Parse("p.hcl", []byte(pipelineWith(`  runtime {
    writers             = 8
    max_in_flight_bytes = "128MiB"
  }
  resources {
    full_read_concurrency = 2
    log_reader_memory     = "64MiB"
  }
`)), Options{})
	noErrors(t, f, diags)
	if f.Pipeline.Runtime.Writers != 8 || f.Pipeline.Resources.LogReaderMemory != 64<<20 {
		t.Errorf("%+v %+v", f.Pipeline.Runtime, f.Pipeline.Resources)
	}
}

// Across files, the pipeline file (or the later template) wins; in one file, runtime and
// resources conflict.
func TestResourcesAcrossFiles(t *testing.T) {
	files := map[string]string{
		"res.hcl": `defaults {
  resources {
    preset      = "large"
    full_memory = "4GiB"
  }
}`,
		"rt.hcl": `defaults {
  runtime {
    writers             = 16
    max_in_flight_bytes = "1GiB"
  }
}`,
		"both.hcl": `defaults {
  runtime { writers = 16 }
  resources { full_write_concurrency = 2 }
}`,
	}
	// The pipeline's runtime beats the template's resources: those values are cleared.
	f, diags := parseWith(t, `template = "res.hcl"
`+pipelineWith("  runtime { writers = 3 }\n"), files, Options{})
	noErrors(t, f, diags)
	r := f.Pipeline.Resources
	if r.FullWriteConcurrency != 0 || r.IncrementalWriteConcurrency != 0 || r.FullReadConcurrency != 8 || r.FullMemory != 4<<30 || f.Pipeline.Runtime.Writers != 3 {
		t.Errorf("runtime wins: %+v %+v", r, f.Pipeline.Runtime)
	}
	if _, ok := r.ValueRange(ResFullWriteConcurrency); ok {
		t.Error("cleared value has a range")
	}
	// The pipeline's resources beat the template's runtime, per phase.
	f, diags = parseWith(t, `template = "rt.hcl"
`+pipelineWith("  resources { full_write_concurrency = 2 }\n"), files, Options{})
	noErrors(t, f, diags)
	if r := f.Pipeline.Resources; r.FullWriteConcurrency != 2 || r.IncrementalWriteConcurrency != 0 || f.Pipeline.Runtime.Writers != 16 {
		t.Errorf("resources win: %+v %+v", r, f.Pipeline.Runtime)
	}
	// A later template beats an earlier one.
	f, diags = parseWith(t, `template = ["rt.hcl", "res.hcl"]
`+pipelineWith(""), files, Options{})
	noErrors(t, f, diags)
	if r := f.Pipeline.Resources; r.FullWriteConcurrency != 8 || r.FullMemory != 4<<30 || r.IncrementalMemory != 512<<20 {
		t.Errorf("later template: %+v", r)
	}
	f, diags = parseWith(t, `template = ["res.hcl", "rt.hcl"]
`+pipelineWith(""), files, Options{})
	noErrors(t, f, diags)
	if r := f.Pipeline.Resources; r.FullWriteConcurrency != 0 || r.FullMemory != 0 || r.IncrementalMemory != 0 || r.FullReadConcurrency != 8 || r.LogReaderMemory != 512<<20 {
		t.Errorf("later template: %+v", r)
	}
	// A preset in the pipeline file beats a value set in a template.
	f, diags = parseWith(t, `template = "res.hcl"
`+pipelineWith("  resources { preset = \"small\" }\n"), files, Options{})
	noErrors(t, f, diags)
	if r := f.Pipeline.Resources; r.FullMemory != 256<<20 || r.Preset != "small" {
		t.Errorf("pipeline preset: %+v", r)
	}
	// Both in one template: an error in the template, at the runtime attribute.
	_, diags = parseWith(t, `template = "both.hcl"
`+pipelineWith(""), files, Options{})
	if len(diags) != 1 || diags[0].Subject.Filename != "conf/both.hcl" || diags[0].Subject.Start.Line != 2 || diags[0].Subject.Start.Column != 23 ||
		!strings.Contains(diags[0].Detail, "resources.full_write_concurrency is set on line 3.") {
		t.Errorf("diags = %s", diagText(diags))
	}
	// Named from another file: the line says which file.
	_, diags = parseWith(t, `template = "res.hcl"
`+pipelineWith("  resources { full_write_concurrency = 3 }\n  runtime { max_in_flight_bytes = \"8MiB\" }\n"), files, Options{})
	if len(diags) != 0 {
		t.Errorf("diags = %s", diagText(diags))
	}
	if got := lineOf(hcl.Range{Filename: "a.hcl", Start: hcl.Pos{Line: 3}}, hcl.Range{Filename: "b.hcl"}); got != "line 3 of a.hcl" {
		t.Errorf("lineOf = %q", got)
	}
}

// TestResourcesPhasePresets: the product's short form, resources { full = "medium"
// incremental = "small" }, sets each phase from its own preset; explicit values win, and a
// phase preset wins over preset.
func TestResourcesPhasePresets(t *testing.T) {
	f, diags := Parse("p.hcl", []byte(pipelineWith(`  resources {
    full        = "medium"
    incremental = "small"
  }
`)), Options{})
	noErrors(t, f, diags)
	want := Resources{Present: true, FullReadConcurrency: 4, FullWriteConcurrency: 4, FullMemory: 512 << 20,
		LogReaderMemory: 128 << 20, IncrementalWriteConcurrency: 2, IncrementalMemory: 128 << 20}
	if got := values(f.Pipeline.Resources); !reflect.DeepEqual(got, want) {
		t.Errorf("full/incremental: %+v\nwant %+v", got, want)
	}
	if rng, ok := f.Pipeline.Resources.ValueRange(ResIncrementalMemory); !ok || rng.Start.Line != 7 {
		t.Errorf("incremental_memory comes from line 7 (incremental = ...), got %v %v", rng, ok)
	}

	f, diags = Parse("p.hcl", []byte(pipelineWith(`  resources {
    preset             = "large"
    incremental        = "small"
    incremental_memory = "64MiB"
  }
`)), Options{})
	noErrors(t, f, diags)
	want = Resources{Present: true, Preset: "large", FullReadConcurrency: 8, FullWriteConcurrency: 8, FullMemory: 1 << 30,
		LogReaderMemory: 128 << 20, IncrementalWriteConcurrency: 2, IncrementalMemory: 64 << 20}
	if got := values(f.Pipeline.Resources); !reflect.DeepEqual(got, want) {
		t.Errorf("preset + phase preset + value: %+v\nwant %+v", got, want)
	}

	_, diags = Parse("p.hcl", []byte(pipelineWith(`  resources { full = "medum" }
`)), Options{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "medium") {
		t.Errorf("unknown phase preset: %v", diags)
	}
}
