package rocketmq

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// resolveTimeout bounds the name lookups of the name servers at start.
const resolveTimeout = 10 * time.Second

// resolveHosts returns addrs (host:port) with every host name replaced by its addresses,
// one host:port each, IPv4 before IPv6 (IPv6 only for a host without IPv4): the remoting
// client (rocketmq-client-go) accepts name servers only as IP addresses ("new Namesrv
// failed.: IP addr error"). IP addresses and http(s):// name server URLs are kept as they
// are. Names are resolved once, when the sink starts.
func resolveHosts(ctx context.Context, lookup func(context.Context, string) ([]string, error), addrs []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
			add(a)
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("name server %q is not host:port", a)
		}
		if net.ParseIP(host) != nil {
			add(net.JoinHostPort(host, port))
			continue
		}
		ips, err := lookup(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("name server %s: cannot resolve %s: %w", a, host, err)
		}
		var v4, v6 []string
		for _, ip := range ips {
			if p := net.ParseIP(ip); p != nil && p.To4() != nil {
				v4 = append(v4, ip)
			} else if p != nil {
				v6 = append(v6, ip)
			}
		}
		if len(v4) == 0 {
			v4 = v6
		}
		if len(v4) == 0 {
			return nil, fmt.Errorf("name server %s: %s has no address", a, host)
		}
		for _, ip := range v4 {
			add(net.JoinHostPort(ip, port))
		}
	}
	return out, nil
}
