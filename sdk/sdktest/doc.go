// Package sdktest helps test ferry plugins: an in-process gRPC harness that runs a plugin
// through the real protocol adapters without a subprocess (GRPCPair), fixture changes that
// cover every operation and value kind with their edge cases, a deep comparison of changes,
// a goroutine leak check, and one conformance suite per plugin kind (Source, Filter,
// Serializer, Sink) that runs each check both directly and through GRPCPair.
//
// A plugin's test is typically:
//
//	func TestConformance(t *testing.T) {
//		sdktest.Serializer(t, func(t testing.TB) (sdk.Serializer, sdk.Config) {
//			return myformat.New(), sdk.NewConfig([]byte(`{"pretty":false}`))
//		})
//	}
package sdktest
