package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/ferry-cdc/ferry/sdk"
)

// B11: bounds print as written, never in scientific notation.
func TestBoundsNotScientific(t *testing.T) {
	a := sdk.Attribute{Name: "server_id", Type: sdk.TypeInt, Min: sdk.Bound(0), Max: sdk.Bound(4294967295)}
	d := checkBounds(a, 5e9, hcl.Range{}, false, "5000000000")
	if d == nil || !strings.Contains(d.Detail, "between 0 and 4294967295;") {
		t.Fatalf("%v", d)
	}
	for _, tc := range []struct {
		t    sdk.Type
		v    float64
		want string
	}{
		{sdk.TypeInt, 1e6, "1000000"}, {sdk.TypeFloat, 0.25, "0.25"}, {sdk.TypeSize, 4194304, "4MiB"},
		{sdk.TypeSize, 1048576, "1MiB"}, {sdk.TypeDuration, 0.01, "10ms"},
	} {
		if got := FormatBound(tc.t, tc.v); got != tc.want {
			t.Errorf("FormatBound(%s, %v) = %q, want %q", tc.t, tc.v, got, tc.want)
		}
	}
}
