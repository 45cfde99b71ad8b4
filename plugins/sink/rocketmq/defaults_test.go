package rocketmq

import (
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
)

// The defaults are written once, in spec: defaultConfig decodes them, so they cannot drift.
func TestDefaultsFromSpec(t *testing.T) {
	got := defaultConfig()
	want := config{Transport: transportRemoting, ProducerGroup: defaultGroup, Tag: defaultTag, Partitioning: partHash,
		SendTimeout: sdk.Duration(defaultSendTimeout), Retries: defaultRetries, MaxBatchBytes: defaultMaxBatchBytes,
		MaxMessageBytes: defaultMaxMessageBytes, RouteRefresh: sdk.Duration(defaultRouteRefresh)}
	if got.Transport != want.Transport || got.ProducerGroup != want.ProducerGroup || got.Tag != want.Tag ||
		got.Partitioning != want.Partitioning || got.SendTimeout != want.SendTimeout || got.Retries != want.Retries ||
		got.MaxBatchBytes != want.MaxBatchBytes || got.MaxMessageBytes != want.MaxMessageBytes ||
		got.RouteRefresh != want.RouteRefresh || got.Trace || got.TLS || got.AutoCreateTopic {
		t.Fatalf("defaults decoded from the spec: %+v, want %+v", got, want)
	}
}
