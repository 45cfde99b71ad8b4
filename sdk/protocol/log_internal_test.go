package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// The plugin's gRPC server sees "transport is closing" at every normal end (ferry closes the
// connection when done, e.g. after `ferry plugins`); that is no warning. Other warnings are.
func TestGRPCLoggerClosingIsDebug(t *testing.T) {
	var buf bytes.Buffer
	g := grpcLogger{hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn})}
	g.Warningf("grpc: Server.processRPC failed to write status: %v", errors.New(`connection error: desc = "transport is closing"`))
	g.Warning("[core]", "[Server #1] grpc: Server.processRPC failed to write status: connection error: desc = \"transport is closing\"")
	if buf.Len() != 0 {
		t.Errorf("a closing transport logged at warn:\n%s", buf.String())
	}
	g.Warningf("[core] [Channel #1 SubChannel #2] grpc: addrConn.createTransport failed to connect: %v", errors.New("connection refused"))
	if !strings.Contains(buf.String(), "[WARN]") || !strings.Contains(buf.String(), "connection refused") {
		t.Errorf("another warning not logged at warn: %q", buf.String())
	}
}
