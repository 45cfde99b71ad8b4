package sdktest

import (
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/protocol"
	"github.com/hashicorp/go-plugin"
)

// GRPCPair serves p over gRPC inside the test process (go-plugin's TestPluginGRPCConn) and
// returns the host-side adapter as T: sdk.Source, sdk.Filter, sdk.Serializer or sdk.Sink
// (whatever p's kind is). Calls go through the same protocol code as with a plugin
// subprocess. The connection is closed when the test ends. Unlike a real plugin server, the
// test server keeps gRPC's default 4 MiB limit on the messages it receives.
func GRPCPair[T any](t testing.TB, p sdk.Plugin) T {
	t.Helper()
	cfg, err := protocol.ServeConfig(p)
	if err != nil {
		t.Fatalf("sdktest.GRPCPair: %v", err)
	}
	client, server := plugin.TestPluginGRPCConn(t, false, cfg.VersionedPlugins[protocol.ProtocolVersion])
	t.Cleanup(func() {
		// Stop the server first: closing the client first would make the server stop itself
		// (go-plugin's Shutdown call) concurrently with this Stop.
		server.Stop()
		_ = client.Close()
	})
	raw, err := client.Dispense(string(p.Info().Kind))
	if err != nil {
		t.Fatalf("sdktest.GRPCPair: %v", err)
	}
	v, ok := raw.(T)
	if !ok {
		var want *T
		t.Fatalf("sdktest.GRPCPair: the %s adapter %T is not a %T", p.Info().Kind, raw, want)
	}
	return v
}
