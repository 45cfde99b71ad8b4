// Package sdk is the public API for ferry plugin authors.
//
// A ferry pipeline is source → filters → serializer → sink. Each stage is a plugin of one of
// four kinds, described here by one interface each: Source, Filter, Serializer, Sink. A plugin
// declares its configuration as a Spec; ferry decodes the user's HCL against it (with
// file:line:column diagnostics) and hands the plugin a Config to decode into its own struct.
//
// Plugins run inside ferry (the built-ins) or as separate processes that ferry launches and
// talks to over gRPC (package sdk/protocol; a plugin's main is one call to protocol.Serve).
// The pipeline cannot tell the two apart.
//
// Interfaces grow without breaking authors: embed the Unimplemented type of your kind, and
// implement optional abilities (SourceAcker, ...) as separate small interfaces.
//
// The change-event model is in package sdk/change.
package sdk
