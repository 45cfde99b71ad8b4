package dataworks

import (
	"context"
	"testing"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/sdktest"
)

const cfg = `{"business_name":"shop-orders","db_version":"4.2.1"}`

func newTest(t testing.TB) *Serializer {
	s := newSerializer()
	if err := s.Configure(context.Background(), sdk.NewConfig([]byte(cfg))); err != nil {
		t.Fatal(err)
	}
	s.hooks.Now, s.hooks.Seq = fixture.Now, fixture.Seq
	return s
}

func TestGolden(t *testing.T) {
	fixture.RunGolden(t, newTest(t), "", map[string]int{"snapshot": 1, "insert": 1, "update": 2, "delete": 1, "ddl": 1, "heartbeat": 1})
}

func TestBusinessName(t *testing.T) {
	for c, ok := range map[string]bool{`{}`: false, `{"business_name":""}`: false, `{"business_name":"a"}`: true,
		`{"business_name":"一二三四五六七八九十一二三四五六七八九十"}`: true, `{"business_name":"abcdefghijklmnopqrstu"}`: false} {
		err := newSerializer().Configure(context.Background(), sdk.NewConfig([]byte(c)))
		if ae := sdk.AttributeErrors(err); ok != (err == nil) || (!ok && (len(ae) != 1 || ae[0].Attribute != "business_name")) {
			t.Errorf("%s: %v", c, err)
		}
	}
}

func TestConformance(t *testing.T) {
	sdktest.Serializer(t, func(t testing.TB) (sdk.Serializer, sdk.Config) { return newTest(t), sdk.NewConfig([]byte(cfg)) })
}

func BenchmarkSerialize(b *testing.B) {
	s := New()
	if err := s.Configure(context.Background(), sdk.NewConfig([]byte(cfg))); err != nil {
		b.Fatal(err)
	}
	fixture.Bench(b, s)
}
