package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/ferry-cdc/ferry/sdk"
)

// Retention defaults (the block is off unless present).
const (
	DefaultRetentionDuration = 24 * time.Hour
	DefaultRetentionMaxBytes = 20 << 30
	DefaultRetentionDir      = ".ferry/retention"
	DefaultRetentionMinFree  = 64 << 20
	// MinRetentionMaxBytes bounds max_bytes from below.
	MinRetentionMaxBytes = 1 << 20
)

// Retention is the pipeline's retention block: decoded changes are kept in a local store
// for Duration (and at most MaxBytes), the writer reads them from there and can be rewound
// inside the window (`ferry rewind`).
type Retention struct {
	// Enabled is set when the block is present.
	Enabled bool
	// Duration is how long a stored change is kept (> 0).
	Duration time.Duration
	// MaxBytes bounds the store (>= 1MiB); when only undelivered changes fill it, the reader
	// waits.
	MaxBytes int64
	// Dir is the absolute directory of the stores; the pipeline's store is Dir/<name>.
	Dir string
	// MinFree is the free disk space the store keeps: below it the reader waits.
	MinFree int64
	// DefRange is the block header (zero when the block is absent).
	DefRange hcl.Range
	// Ranges maps the attributes set in the file to their expressions.
	Ranges map[string]hcl.Range
}

var retentionSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "duration", Type: sdk.TypeDuration, Default: DefaultRetentionDuration.String(), Min: sdk.Bound(1),
		Doc: "How long stored changes are kept (counted from when they were stored)."},
	{Name: "max_bytes", Type: sdk.TypeSize, Default: int64(DefaultRetentionMaxBytes), Min: sdk.Bound(MinRetentionMaxBytes),
		Doc: "The most bytes the store holds; the oldest delivered changes go first, and when only undelivered ones are left the reader waits."},
	{Name: "dir", Type: sdk.TypeString, Default: DefaultRetentionDir,
		Doc: "Directory of the stores (relative to the file it is written in); the pipeline's store is <dir>/<pipeline name>."},
	{Name: "min_free", Type: sdk.TypeSize, Default: int64(DefaultRetentionMinFree), Min: sdk.Bound(1 << 20),
		Doc: "Free disk space the store keeps on its file system: below it the reader waits."},
}}

func (f *File) decodeRetention(b *hcl.Block) (Retention, hcl.Diagnostics) {
	if b == nil {
		return Retention{}, nil
	}
	dec, diags := f.blockAttrs(b, retentionSpec, "the retention block")
	r := Retention{
		Enabled:  true,
		Duration: durationOr(dec.values["duration"], DefaultRetentionDuration),
		MaxBytes: intOr(dec.values["max_bytes"], DefaultRetentionMaxBytes),
		MinFree:  intOr(dec.values["min_free"], DefaultRetentionMinFree),
		DefRange: b.DefRange,
		Ranges:   dec.ranges,
	}
	dir, ok := dec.values["dir"].(string)
	if !ok {
		dir = DefaultRetentionDir
	}
	if strings.TrimSpace(dir) == "" {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty retention directory",
			Detail:   fmt.Sprintf("The retention dir must name a directory; leave it out for the default %q.", DefaultRetentionDir),
			Subject:  rangePtr(dec.ranges, "dir"),
		})
		dir = DefaultRetentionDir
	}
	r.Dir = f.resolvePath(dir, dec.ranges["dir"])
	return r, diags
}
