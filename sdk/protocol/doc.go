// Package protocol carries ferry plugins over hashicorp/go-plugin and gRPC.
//
// A plugin binary's main is one call:
//
//	func main() { protocol.Serve(myplugin.New()) }
//
// Serve finds the kind from the plugin's Info, checks that the plugin implements that kind's
// interface and serves it. The host launches the binary with go-plugin, using Handshake and
// VersionedPlugins, and dispenses string(kind) to get a value that implements sdk.Source,
// sdk.Filter, sdk.Serializer or sdk.Sink: the pipeline cannot tell it from an in-process
// plugin.
//
// The wire protocol is package pluginv1, generated from proto/ferry/plugin/v1/plugin.proto
// (see gen.sh). Events move in batches on one long-lived bidirectional stream per plugin:
// the source streams batches against credits granted by the host (flow control over the
// wire); filter, serializer and sink calls are multiplexed on their stream by request id, so
// several may be in flight. Info, Spec, Configure, Open, Ack and Close are unary calls. Table
// schemas are sent once per stream and then referred to by id.
//
// ProtocolVersion is the version this package speaks; go-plugin refuses a plugin that speaks
// another one during the handshake, with an error naming both versions.
package protocol
