// Package plugin finds, launches and supervises ferry plugins.
//
// Built-in plugins are listed in one explicit table (builtin.go) and run in-process by
// default. External plugins are executables named ferry-<kind>-<name>, found in the plugin
// directories or named by path in the pipeline file, and run out of process through
// hashicorp/go-plugin over gRPC (sdk/protocol). Any built-in can also run out of process: the
// host launches its own executable as `ferry plugin serve <kind>/<name>`, so both transports
// are exercised with the same plugin.
//
// Whatever the transport, the host hands the pipeline a value implementing the sdk interface
// of the plugin's kind. Out-of-process plugins are wrapped so that a failed call on a plugin
// whose process has exited is reported as a crash naming the plugin and its last output.
package plugin
