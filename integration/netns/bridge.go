// Package netns runs test processes in a Linux network namespace of their own that has
// nothing but a loopback interface, and partitions them from one service with a kernel
// packet filter (nftables, in that namespace only).
//
// A process in such a namespace reaches nothing by itself, not even the test bed's servers
// on the host's 127.0.0.1. A bridge (cmd/nsbridge, run inside the namespace) connects the
// two loopbacks over Unix sockets, which a network namespace does not separate:
//
//   - out: the bridge listens on 127.0.0.1:P inside and passes each connection to the test
//     process's Unix socket out.sock, which dials the host's address for P (a server of the
//     test bed: MariaDB, the name server, the broker, etcd);
//   - in: the test process listens on a host address (a ferry process's status server) and
//     passes each connection to the bridge's Unix socket in.sock, which dials the same
//     address inside.
//
// Each connection over a Unix socket starts with one line naming where to dial, then carries
// the bytes both ways. A cut (NS.Cut) drops every TCP packet to and from one port inside
// the namespace, between the process and the bridge: a real partition as the process's
// kernel sees it (connections hang, SYNs go unanswered), not a proxy that stops reading.
package netns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Serve accepts connections on ln until it is closed. Each connection's first line is the
// address dial is given; the rest is piped both ways until either side closes.
func Serve(ln net.Listener, dial func(target string) (net.Conn, error)) error {
	return accept(ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := br.ReadString('\n')
		_ = c.SetReadDeadline(time.Time{})
		if err != nil {
			c.Close()
			return
		}
		d, err := dial(strings.TrimSpace(line))
		if err != nil {
			c.Close()
			return
		}
		pipe(&bufConn{Conn: c, r: br}, d)
	})
}

// Forward accepts connections on ln until it is closed and passes each to the Unix socket
// sock, announcing target as its first line.
func Forward(ln net.Listener, sock, target string) error {
	return accept(ln, func(c net.Conn) {
		d, err := net.DialTimeout("unix", sock, 10*time.Second)
		if err != nil {
			c.Close()
			return
		}
		if _, err := fmt.Fprintf(d, "%s\n", target); err != nil {
			c.Close()
			d.Close()
			return
		}
		pipe(c, d)
	})
}

// accept hands each connection of ln to handle, on a goroutine of its own, until ln is
// closed (nil) or fails.
func accept(ln net.Listener, handle func(net.Conn)) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go handle(c)
	}
}

// DialTCP is the dial of Serve for TCP targets.
func DialTCP(target string) (net.Conn, error) {
	return net.DialTimeout("tcp", target, 10*time.Second)
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *bufConn) CloseWrite() error {
	if cw, ok := b.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return b.Conn.Close()
}

// pipe copies both ways; when one direction ends it half-closes the other side's write, and
// when both ended it closes both.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}
