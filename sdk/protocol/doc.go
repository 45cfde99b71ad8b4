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
// several may be in flight. Info, Spec, Configure, Precheck, Open, Ack, Close and the source's
// ListTables, SetTables, Resnapshot and SnapshotProgress are unary calls. Table schemas are
// sent once per stream and then referred to by id.
//
// Optional abilities are advertised as capability strings in Info, set by Serve when the
// served value implements the interface: "precheck" (sdk.Prechecker), and for a source
// "source.ack" (sdk.SourceAcker), "source.list_tables" (sdk.TableLister),
// "source.set_tables" (sdk.TableSelector), "source.snapshot_progress"
// (sdk.ProgressReporter), "source.resnapshot" (sdk.Resnapshotter) and
// "source.describe_position" (sdk.PositionDescriber). The host calls an
// optional method only when the plugin lists its capability. The host's adapter implements every optional interface of its kind whatever
// the plugin has, and answers for a plugin without the capability itself: Precheck, Ack and
// SnapshotProgress do nothing and return nil; ListTables, SetTables, Resnapshot and
// DescribePosition return an error wrapping sdk.ErrNotSupported. SetTables, Resnapshot and SnapshotProgress may be
// called concurrently with the Read stream; gRPC serves each call on its own goroutine.
//
// Errors cross the boundary as their text; io.EOF, context.Canceled,
// context.DeadlineExceeded and sdk.ErrNotSupported stay recognizable with errors.Is, and
// errors marked with sdk.Permanent stay marked (sdk.IsPermanent).
//
// ProtocolVersion is the version this package speaks; go-plugin refuses a plugin that speaks
// another one during the handshake, with an error naming both versions. Additions within a
// version are backward compatible and do not change it: new calls, new message fields and new
// capabilities (an older plugin does not list a capability, so a newer host does not call
// it; an older host never calls a method it does not know, and ignores fields and
// capabilities it does not know). The table calls and their capabilities, the
// CODE_NOT_SUPPORTED error code and the permanent flag of Error were added that way to
// ferry.plugin.v1.
package protocol
