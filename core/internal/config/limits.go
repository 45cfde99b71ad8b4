package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/ferry-cdc/ferry/sdk"
)

// Limits are the pipeline's rate ceilings (the limits block); zero fields mean unlimited.
//
//	limits {
//	  full        { rows_per_second = 20000  bytes_per_second = "20MiB" }   (one per line)
//	  incremental { rows_per_second = 50000 }
//	}
type Limits struct {
	// Full applies to snapshot rows, Incremental to changes from the log.
	Full, Incremental Rate
	// DefRange is the limits block's header (zero when there is none).
	DefRange hcl.Range
}

// Rate is one phase's ceiling.
type Rate struct {
	RowsPerSecond  int64
	BytesPerSecond int64
	Ranges         map[string]hcl.Range
}

var rateSpec = sdk.Spec{Attributes: []sdk.Attribute{
	{Name: "rows_per_second", Type: sdk.TypeInt, Min: sdk.Bound(1),
		Doc: "Most rows per second (a ceiling, enforced smoothly)."},
	{Name: "bytes_per_second", Type: sdk.TypeSize, Min: sdk.Bound(1),
		Doc: "Most message bytes per second, such as \"20MiB\"."},
}}

var limitsSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "full"}, {Type: "incremental"}}}

func (f *File) decodeLimits(b *hcl.Block) (Limits, hcl.Diagnostics) {
	var l Limits
	if b == nil {
		return l, nil
	}
	l.DefRange = b.DefRange
	content, diags := b.Body.Content(limitsSchema)
	seen := map[string]*hcl.Block{}
	for _, blk := range content.Blocks {
		if first, dup := seen[blk.Type]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate limits.%s block", blk.Type),
				Detail:   fmt.Sprintf("The limits block has at most one %s block; the first one is on line %d.", blk.Type, first.DefRange.Start.Line),
				Subject:  blk.DefRange.Ptr(),
			})
			continue
		}
		seen[blk.Type] = blk
		dec, d := f.blockAttrs(blk, rateSpec, "the limits."+blk.Type+" block")
		diags = append(diags, d...)
		r := Rate{
			RowsPerSecond:  intOr(dec.values["rows_per_second"], 0),
			BytesPerSecond: intOr(dec.values["bytes_per_second"], 0),
			Ranges:         dec.ranges,
		}
		if blk.Type == "full" {
			l.Full = r
		} else {
			l.Incremental = r
		}
	}
	return l, diags
}
