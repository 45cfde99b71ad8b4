package plugin

import (
	"testing"

	"github.com/ferry-cdc/ferry/plugins/serializer/canal"
	"github.com/ferry-cdc/ferry/sdk"
)

// The crash-reporting wrapper of an out-of-process serializer keeps its sdk.ExactValues, so
// the host still skips its copy for it.
func TestWrappedSerializerForwardsExactValues(t *testing.T) {
	w := wrap(sdk.KindSerializer, canal.New(), func(err error) error { return err })
	if ev, ok := w.(sdk.ExactValues); !ok || !ev.ExactValues() {
		t.Error("the wrapper hides the plugin's ExactValues")
	}
}
