// Package config loads ferry pipeline files (HCL) and decodes them into typed values with
// precise diagnostics.
//
// Decoding happens in two phases because plugin schemas come from the plugins:
//
//   - Phase 1, Parse or LoadFile, reads the templates the file names, the variables and the
//     pipeline block: its name, tags, runtime, checkpoint, limits, resources and objects
//     settings (typed, defaults applied), and one PluginBlock per source, filter, serializer
//     and sink with the reserved attributes plugin_path and out_of_process. The rest of each
//     plugin body is kept undecoded.
//   - Phase 2, PluginBlock.Decode, decodes a plugin body against the plugin's sdk.Spec and
//     returns the JSON configuration the plugin receives. Errors the plugin reports later
//     about one attribute (sdk.AttributeError) are pinned to that attribute's expression by
//     PluginBlock.AttributeDiagnostics.
//
// A pipeline file may name template files (template = "shared/settings.hcl" or a list) whose
// variables it can use and whose defaults block fills in what its own blocks leave unset:
// see Template. Settings taken from a template keep their ranges in the template file, so
// diagnostics point there, and File.Source serves every file's text for the snippets.
//
// Every problem is an hcl.Diagnostic whose Subject is the exact range at fault. Secret values
// (attributes declared Secret and values of variables declared sensitive) never appear in a
// diagnostic's text, and WriteDiagnostics masks their source text in the snippets it prints.
package config
