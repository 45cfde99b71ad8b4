package netns

import (
	"io"
	"net"
	"path/filepath"
	"testing"
)

// TestForwardServe: a TCP connection passed by Forward over a Unix socket to Serve reaches
// the target Serve dials, carries bytes both ways, and passes a half-close on.
func TestForwardServe(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		c, err := echo.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(c, c) // echoes until the client half-closes
		c.Close()
	}()
	sock := filepath.Join(t.TempDir(), "b.sock")
	unix, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close()
	dialed := make(chan string, 1)
	go func() {
		_ = Serve(unix, func(target string) (net.Conn, error) { dialed <- target; return DialTCP(target) })
	}()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	go func() { _ = Forward(front, sock, echo.Addr().String()) }()

	c, err := net.Dial("tcp", front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello through the bridge")); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello through the bridge" {
		t.Fatalf("echo = %q", got)
	}
	if target := <-dialed; target != echo.Addr().String() {
		t.Fatalf("Serve dialed %q, want %q", target, echo.Addr())
	}
}
