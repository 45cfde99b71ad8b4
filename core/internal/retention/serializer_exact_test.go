package retention

import (
	"testing"

	"github.com/ferry-cdc/ferry/plugins/serializer/canal"
	"github.com/ferry-cdc/ferry/sdk"
)

// The replayed-mark wrapper keeps the serializer's sdk.ExactValues.
func TestSerializerForwardsExactValues(t *testing.T) {
	var s sdk.Serializer = Serializer{Serializer: canal.New()}
	if ev, ok := s.(sdk.ExactValues); !ok || !ev.ExactValues() {
		t.Error("the wrapper hides the serializer's ExactValues")
	}
}
