package protocol

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"

	"github.com/ferry-cdc/ferry/sdk"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ProtocolVersion is the plugin protocol version this package speaks (proto package
// ferry.plugin.v1). Plugins and hosts agree on it during the go-plugin handshake.
// Backward-compatible additions (new calls announced by capabilities, new fields) keep it;
// see the package documentation.
const ProtocolVersion = 1

// Handshake is the go-plugin handshake shared by ferry and its plugins. The magic cookie only
// tells a plugin binary that ferry launched it; it is not a secret.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "FERRY_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "5279632896bc016c4a6ccdc98df113137be41346fae8f59b7d1ad63140531964",
}

// VersionedPlugins returns the plugin sets a host gives go-plugin's ClientConfig, keyed by
// protocol version. Each set has one entry per kind, named string(kind); dispensing it gives
// the kind's sdk interface (sdk.Source, sdk.Filter, sdk.Serializer or sdk.Sink).
func VersionedPlugins() map[int]plugin.PluginSet {
	set := plugin.PluginSet{}
	for _, k := range sdk.Kinds {
		set[string(k)] = &grpcPlugin{kind: k}
	}
	return map[int]plugin.PluginSet{ProtocolVersion: set}
}

// Serve serves p to the ferry process that launched this binary, and returns when ferry ends
// the plugin. It is a plugin binary's whole main. It exits the process when p is not a valid
// plugin. Interrupts are ignored: the host drives shutdown.
//
// Serve also points the process-wide loggers that libraries use (package log, slog's default
// logger, grpc-go's grpclog) at the plugin's logger, so their lines reach ferry's log as the
// plugin's, with a level, instead of as plain text.
func Serve(p sdk.Plugin) {
	cfg, err := ServeConfig(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry plugin:", err)
		os.Exit(1)
	}
	signal.Ignore(os.Interrupt)
	routeLibraries(cfg.Logger)
	plugin.Serve(cfg)
}

// ServeConfig returns the go-plugin configuration that Serve uses for p (for tests, or for a
// binary that serves a plugin in its own way). It checks that p implements the interface of
// the kind its Info declares.
func ServeConfig(p sdk.Plugin) (*plugin.ServeConfig, error) {
	info := p.Info()
	hl := pluginLogger(string(info.Kind) + "." + info.Name)
	gp := &grpcPlugin{kind: info.Kind, impl: p, log: newSlog(hl)}
	var ok bool
	switch info.Kind {
	case sdk.KindSource:
		_, ok = p.(sdk.Source)
	case sdk.KindFilter:
		_, ok = p.(sdk.Filter)
	case sdk.KindSerializer:
		_, ok = p.(sdk.Serializer)
	case sdk.KindSink:
		_, ok = p.(sdk.Sink)
	default:
		return nil, fmt.Errorf("plugin %q declares unknown kind %q", info.Name, info.Kind)
	}
	if !ok {
		return nil, fmt.Errorf("plugin %q declares kind %s but %T does not implement sdk's %s interface", info.Name, info.Kind, p, info.Kind)
	}
	if err := p.Spec().Validate(); err != nil {
		return nil, fmt.Errorf("plugin %q: invalid spec: %w", info.Name, err)
	}
	return &plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {string(info.Kind): gp}},
		GRPCServer:       newGRPCServer,
		Logger:           hl,
	}, nil
}

// newGRPCServer is plugin.DefaultGRPCServer with the message size limits the host's client
// uses (go-plugin sets them on the client only): a batch of large records easily passes
// gRPC's default 4 MiB.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32))
	return plugin.DefaultGRPCServer(opts)
}

// grpcPlugin is the go-plugin glue for one kind: impl is the plugin on the plugin side and
// nil on the host side.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	kind sdk.Kind
	impl sdk.Plugin
	// log is the plugin's logger (plugin side only), handed over in Configure's sdk.Config.
	log *slog.Logger
}

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if g.impl == nil {
		return fmt.Errorf("no %s plugin to serve", g.kind)
	}
	ctl := controlServer{p: g.impl, log: g.log}
	if _, ok := g.impl.(sdk.Prechecker); ok {
		ctl.caps = append(ctl.caps, capPrecheck)
	}
	switch g.kind {
	case sdk.KindSource:
		src := g.impl.(sdk.Source)
		if _, ok := src.(sdk.SourceAcker); ok {
			ctl.caps = append(ctl.caps, capSourceAck)
		}
		if _, ok := src.(sdk.TableLister); ok {
			ctl.caps = append(ctl.caps, capSourceListTables)
		}
		if _, ok := src.(sdk.TableSelector); ok {
			ctl.caps = append(ctl.caps, capSourceSetTables)
		}
		if _, ok := src.(sdk.ProgressReporter); ok {
			ctl.caps = append(ctl.caps, capSourceSnapshotProgress)
		}
		if _, ok := src.(sdk.Resnapshotter); ok {
			ctl.caps = append(ctl.caps, capSourceResnapshot)
		}
		if _, ok := src.(sdk.PositionDescriber); ok {
			ctl.caps = append(ctl.caps, capSourceDescribePosition)
		}
		pb.RegisterSourceServer(s, &sourceServer{controlServer: ctl, impl: src})
	case sdk.KindFilter:
		pb.RegisterFilterServer(s, &filterServer{controlServer: ctl, impl: g.impl.(sdk.Filter)})
	case sdk.KindSerializer:
		pb.RegisterSerializerServer(s, &serializerServer{controlServer: ctl, impl: g.impl.(sdk.Serializer)})
	case sdk.KindSink:
		pb.RegisterSinkServer(s, &sinkServer{controlServer: ctl, impl: g.impl.(sdk.Sink)})
	default:
		return fmt.Errorf("unknown plugin kind %q", g.kind)
	}
	return nil
}

// GRPCClient returns the kind's sdk interface for the plugin behind conn. ctx ends when the
// plugin process exits.
func (g *grpcPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	var (
		c   any
		err error
	)
	switch g.kind {
	case sdk.KindSource:
		c, err = newSourceClient(ctx, conn)
	case sdk.KindFilter:
		c, err = newFilterClient(ctx, conn)
	case sdk.KindSerializer:
		c, err = newSerializerClient(ctx, conn)
	case sdk.KindSink:
		c, err = newSinkClient(ctx, conn)
	default:
		return nil, fmt.Errorf("unknown plugin kind %q", g.kind)
	}
	if err != nil {
		return nil, fmt.Errorf("dispense %s: %w", g.kind, err)
	}
	return c, nil
}
