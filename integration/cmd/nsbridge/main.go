// Command nsbridge runs inside a test's network namespace (integration/netns) and connects
// its loopback to the test process over Unix sockets:
//
//	nsbridge -in DIR/in.sock -out-sock DIR/out.sock -out 127.0.0.1:13306=127.0.0.1:13306 ...
//
// -out LOCAL=TARGET listens on LOCAL inside the namespace and passes each connection to
// -out-sock (the test process), which dials TARGET on the host. -in listens on a Unix socket
// for connections from the host and dials, inside the namespace, the address each one names
// on its first line. It prints "ready" once everything listens, and runs until killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/ferry-cdc/ferry/integration/netns"
)

type outs []string

func (o *outs) String() string     { return strings.Join(*o, ",") }
func (o *outs) Set(v string) error { *o = append(*o, v); return nil }

func main() {
	in := flag.String("in", "", "Unix socket to accept host connections on")
	outSock := flag.String("out-sock", "", "Unix socket of the test process for -out connections")
	var out outs
	flag.Var(&out, "out", "LOCAL=TARGET: listen on LOCAL inside, dial TARGET on the host (repeatable)")
	flag.Parse()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "nsbridge:", err)
		os.Exit(1)
	}
	if *in != "" {
		ln, err := net.Listen("unix", *in)
		if err != nil {
			fail(err)
		}
		go func() { fail(netns.Serve(ln, netns.DialTCP)) }()
	}
	for _, o := range out {
		local, target, ok := strings.Cut(o, "=")
		if !ok || *outSock == "" {
			fail(fmt.Errorf("-out %q: want LOCAL=TARGET, with -out-sock", o))
		}
		ln, err := net.Listen("tcp", local)
		if err != nil {
			fail(err)
		}
		go func() { fail(netns.Forward(ln, *outSock, target)) }()
	}
	fmt.Println("ready")
	select {}
}
