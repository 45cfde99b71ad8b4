// Command crashsink is a sink plugin that writes a line, then panics on its first Write: the
// host must report the crash with the plugin's name and last output.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/protocol"
)

type crashSink struct{ sdk.UnimplementedSink }

func (crashSink) Info() sdk.Info {
	return sdk.Info{Name: "crash", Kind: sdk.KindSink, Version: "0.0.1", Summary: "crashes on write"}
}
func (crashSink) Spec() sdk.Spec { return sdk.Spec{} }

func (crashSink) Configure(context.Context, sdk.Config) error {
	fmt.Fprintln(os.Stderr, "crashsink: configured")
	return nil
}

func (crashSink) Write(_ context.Context, recs []sdk.Record) (int, error) {
	// A panic's trace goes to the process's real stderr, which the host reads directly.
	panic(fmt.Sprintf("out of disk (simulated) on a batch of %d records", len(recs)))
}

func main() { protocol.Serve(crashSink{}) }
