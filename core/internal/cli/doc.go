// Package cli implements the ferry command line: validate, run, plugins, version and the
// hidden `plugin serve` used to run built-ins out of process. Every command returns an exit
// code from exitcodes.go so scripts can rely on them.
package cli
