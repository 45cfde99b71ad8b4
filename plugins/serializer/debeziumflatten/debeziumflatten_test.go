package debeziumflatten

import (
	"context"
	"testing"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/dbz"
	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

func newTest(t testing.TB, cfg string) *dbz.Serializer {
	s := newSerializer()
	if err := s.Configure(context.Background(), sdk.NewConfig([]byte(cfg))); err != nil {
		t.Fatal(err)
	}
	s.Hooks.Now, s.Hooks.Seq = fixture.Now, fixture.Seq
	return s
}

var counts = map[string]int{"snapshot": 1, "insert": 1, "update": 1, "delete": 1, "ddl": 0, "heartbeat": 0}

func TestGolden(t *testing.T) {
	fixture.RunGolden(t, newTest(t, `{}`), "", counts)
}

func TestGoldenPrecise(t *testing.T) {
	fixture.RunGolden(t, newTest(t, `{"decimal_handling":"precise","bigint_unsigned_handling":"precise","server_name":"dbserver1"}`), "precise-", counts)
}

func TestConformance(t *testing.T) {
	sdktest.Serializer(t, func(t testing.TB) (sdk.Serializer, sdk.Config) { return newTest(t, `{}`), sdk.NewConfig([]byte(`{}`)) })
}

func BenchmarkSerialize(b *testing.B) { fixture.Bench(b, New()) }
