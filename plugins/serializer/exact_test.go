package serializer_test

import (
	"testing"

	"github.com/ferry-cdc/ferry/plugins/serializer/canal"
	"github.com/ferry-cdc/ferry/plugins/serializer/dataworks"
	"github.com/ferry-cdc/ferry/plugins/serializer/debezium"
	"github.com/ferry-cdc/ferry/plugins/serializer/debeziumflatten"
	"github.com/ferry-cdc/ferry/plugins/serializer/debeziumsmt"
	defaultformat "github.com/ferry-cdc/ferry/plugins/serializer/default"
	"github.com/ferry-cdc/ferry/plugins/serializer/defaultext"
	"github.com/ferry-cdc/ferry/plugins/serializer/shareplex"
	"github.com/ferry-cdc/ferry/sdk"
)

// Every built-in format promises exact values (sdk.ExactValues), so the host skips its
// compacting copy for them.
func TestBuiltInFormatsHaveExactValues(t *testing.T) {
	for name, s := range map[string]sdk.Serializer{
		"canal": canal.New(), "dataworks": dataworks.New(), "debezium": debezium.New(),
		"debezium_flatten": debeziumflatten.New(), "debezium_smt": debeziumsmt.New(),
		"default": defaultformat.New(), "default_extend_column_type": defaultext.New(), "shareplex": shareplex.New(),
	} {
		if ev, ok := s.(sdk.ExactValues); !ok || !ev.ExactValues() {
			t.Errorf("%s: no sdk.ExactValues", name)
		}
	}
}
