package protocol_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

type checkedFilter struct {
	checks []sdk.Check
	err    error
}

func (checkedFilter) Info() sdk.Info {
	return sdk.Info{Name: "checked", Kind: sdk.KindFilter, Version: "1"}
}
func (checkedFilter) Spec() sdk.Spec                              { return sdk.Spec{} }
func (checkedFilter) Configure(context.Context, sdk.Config) error { return nil }
func (checkedFilter) Filter(_ context.Context, cs []*change.Change) ([]*change.Change, error) {
	return cs, nil
}
func (f checkedFilter) Precheck(context.Context) ([]sdk.Check, error) { return f.checks, f.err }

type plainFilter struct{ checkedFilter }

// Precheck is hidden: plainFilter does not implement sdk.Prechecker.
func (plainFilter) Precheck() {}

func TestPrecheckOverGRPC(t *testing.T) {
	want := []sdk.Check{
		{Name: "binlog_format", Status: sdk.CheckPass, Detail: "ROW"},
		{Name: "names", Status: sdk.CheckFail, Detail: "table `a b`: space in name", Consequence: "the table is not synchronized"},
	}
	f := sdktest.GRPCPair[sdk.Filter](t, checkedFilter{checks: want, err: errors.New("retention: cannot read binlog list")})
	got, err := f.(sdk.Prechecker).Precheck(context.Background())
	if err == nil || err.Error() != "retention: cannot read binlog list" {
		t.Errorf("error %v", err)
	}
	if len(got) != 2 || got[1] != want[1] || got[0] != want[0] {
		t.Errorf("checks %+v", got)
	}
	plain := sdktest.GRPCPair[sdk.Filter](t, plainFilter{})
	got, err = plain.(sdk.Prechecker).Precheck(context.Background())
	if err != nil || got != nil {
		t.Errorf("a plugin without checks returned %v %v", got, err)
	}
}
