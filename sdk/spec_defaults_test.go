package sdk_test

import (
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
)

func TestSpecDecodeDefaults(t *testing.T) {
	spec := sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "n", Type: sdk.TypeInt, Default: int64(3)},
		{Name: "d", Type: sdk.TypeDuration, Default: "2s"},
		{Name: "req", Type: sdk.TypeString, Required: true},
	}}
	var c struct {
		N   int64        `json:"n"`
		D   sdk.Duration `json:"d"`
		Req string       `json:"req"`
	}
	if err := spec.DecodeDefaults(&c); err != nil {
		t.Fatal(err)
	}
	if c.N != 3 || c.D.D().String() != "2s" || c.Req != "" {
		t.Fatalf("decoded %+v", c)
	}
	var missing struct {
		N int64 `json:"n"`
	}
	if err := spec.DecodeDefaults(&missing); err == nil {
		t.Fatal("a default without a field decoded without error")
	}
}
