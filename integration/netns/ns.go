package netns

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Available says why network namespaces with a packet filter cannot be used here (nil: they
// can): they need root (or CAP_SYS_ADMIN and CAP_NET_ADMIN), iproute2's ip and nftables'
// nft (the test bed installs nftables). It tries once: it creates a namespace with a filter
// table and removes it.
func Available() error {
	availOnce.Do(func() { availErr = probe() })
	return availErr
}

var (
	availOnce sync.Once
	availErr  error
)

func probe() error {
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (iproute2, nftables)", tool)
		}
	}
	name := fmt.Sprintf("ferry-probe-%d", os.Getpid())
	defer func() { _ = exec.Command("ip", "netns", "del", name).Run() }()
	for _, args := range [][]string{
		{"ip", "netns", "add", name},
		{"ip", "netns", "exec", name, "nft", "add", "table", "inet", "ferry_probe"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

var (
	buildOnce sync.Once
	bridgeBin string
	buildErr  error
)

// bridge builds cmd/nsbridge once per test binary.
func bridge() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-nsbridge-")
		if err != nil {
			buildErr = err
			return
		}
		bridgeBin = filepath.Join(dir, "nsbridge")
		out, err := exec.Command("go", "build", "-o", bridgeBin, "github.com/ferry-cdc/ferry/integration/cmd/nsbridge").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build nsbridge: %v\n%s", err, out)
		}
	})
	return bridgeBin, buildErr
}

// NS is a network namespace with only a loopback interface, its bridge to the host, and a
// filter table for cuts. It is removed when the test ends.
type NS struct {
	Name string
	t    testing.TB
	dir  string

	mu  sync.Mutex
	lns []net.Listener
}

// New creates a namespace whose processes reach the host address of each value of outs at
// the in-namespace address of its key (both host:port; e.g. "127.0.0.1:42379" →
// "127.0.0.1:12379"). It fails the test when namespaces are unavailable (see Available).
func New(t testing.TB, outs map[string]string) *NS {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatalf("network namespace: %v", err)
	}
	bin, err := bridge()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ferry-ns-") // short: a Unix socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	n := &NS{Name: "ferry-" + filepath.Base(dir)[len("ferry-ns-"):], t: t, dir: dir}
	t.Cleanup(n.remove)
	for _, args := range [][]string{
		{"ip", "netns", "add", n.Name},
		{"ip", "netns", "exec", n.Name, "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", n.Name, "nft", "add", "table", "inet", "ferry_cut"},
		{"ip", "netns", "exec", n.Name, "nft", "add", "chain", "inet", "ferry_cut", "out", "{ type filter hook output priority 0; }"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("network namespace %s: %s: %v\n%s", n.Name, strings.Join(args, " "), err, out)
		}
	}
	outSock := filepath.Join(dir, "out.sock")
	ln, err := net.Listen("unix", outSock)
	if err != nil {
		t.Fatal(err)
	}
	n.lns = append(n.lns, ln)
	go func() { _ = Serve(ln, DialTCP) }()
	args := []string{"netns", "exec", n.Name, bin, "-in", filepath.Join(dir, "in.sock"), "-out-sock", outSock}
	for local, target := range outs {
		args = append(args, "-out", local+"="+target)
	}
	cmd := exec.Command("ip", args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("network namespace %s: the bridge did not start: %s", n.Name, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("network namespace %s: the bridge did not start within 30s: %s", n.Name, stderr.String())
	}
	return n
}

// Command returns a command that runs in the namespace (ip netns exec execs it: its pid is
// the command's own, for kill and SIGSTOP).
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Expose makes addr (host:port, a listener of a process in the namespace) reachable at the
// same address on the host, until the test ends.
func (n *NS) Expose(addr string) {
	n.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		n.t.Fatalf("network namespace %s: expose %s: %v", n.Name, addr, err)
	}
	n.mu.Lock()
	n.lns = append(n.lns, ln)
	n.mu.Unlock()
	go func() { _ = Forward(ln, filepath.Join(n.dir, "in.sock"), addr) }()
}

// Cut drops every TCP packet to or from port inside the namespace (the processes' side of
// the bridge), until Heal.
func (n *NS) Cut(port int) {
	n.t.Helper()
	for _, dir := range []string{"dport", "sport"} {
		n.nft("add", "rule", "inet", "ferry_cut", "out", "tcp", dir, fmt.Sprint(port), "drop")
	}
}

// Heal removes every cut: held connections go on where TCP's retransmissions find them.
func (n *NS) Heal() {
	n.t.Helper()
	n.nft("flush", "chain", "inet", "ferry_cut", "out")
}

func (n *NS) nft(args ...string) {
	n.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("network namespace %s: nft %s: %v\n%s", n.Name, strings.Join(args, " "), err, out)
	}
}

func (n *NS) remove() {
	n.mu.Lock()
	for _, ln := range n.lns {
		ln.Close()
	}
	n.mu.Unlock()
	_ = exec.Command("ip", "netns", "del", n.Name).Run()
	_ = os.RemoveAll(n.dir)
}
