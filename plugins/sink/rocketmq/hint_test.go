package rocketmq

import (
	"context"
	"strings"
	"testing"
)

// B12: a missing topic's hint offers auto_create_topic only where validate accepts it (the
// remoting transport), never with gRPC.
func TestMissingTopicHintPerTransport(t *testing.T) {
	for _, tc := range []struct {
		attrs string
		auto  bool
	}{
		{`"name_servers":["127.0.0.1:9876"],"topic":"t"`, true},
		{`"transport":"grpc","endpoint":"127.0.0.1:8081","topic":"t"`, false},
	} {
		f := newFake()
		f.missing["t"] = true
		s := New()
		s.newTransport = func(config, string) (transport, error) { return f, nil }
		if err := s.Configure(context.Background(), cfgJSON("{"+tc.attrs+"}")); err != nil {
			t.Fatalf("%s: %v", tc.attrs, err)
		}
		checks, err := s.Precheck(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var detail string
		for _, c := range checks {
			if c.Name == CheckTopic {
				detail = c.Detail
			}
		}
		if !strings.Contains(detail, "does not exist") || !strings.Contains(detail, "mqadmin updateTopic -t t") {
			t.Errorf("%s: %q", tc.attrs, detail)
		}
		if got := strings.Contains(detail, "auto_create_topic"); got != tc.auto {
			t.Errorf("%s: hint offers auto_create_topic = %v, want %v: %q", tc.attrs, got, tc.auto, detail)
		}
	}
}
