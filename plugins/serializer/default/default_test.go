package defaultformat

import (
	"testing"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/oms"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func newTest() *oms.Serializer {
	s := newSerializer()
	s.Hooks.Now, s.Hooks.Seq = fixture.Now, fixture.Seq
	return s
}

func TestGolden(t *testing.T) {
	fixture.RunGolden(t, newTest(), "", map[string]int{"snapshot": 1, "insert": 1, "update": 1, "delete": 1, "ddl": 1, "heartbeat": 1})
}

func TestConformance(t *testing.T) {
	sdktest.Serializer(t, func(testing.TB) (sdk.Serializer, sdk.Config) { return newTest(), sdk.NewConfig([]byte(`{}`)) })
}

func BenchmarkSerialize(b *testing.B) { fixture.Bench(b, New()) }
