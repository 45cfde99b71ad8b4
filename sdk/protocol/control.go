package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	pb "github.com/ferry-cdc/ferry/sdk/protocol/pluginv1"
	"google.golang.org/grpc"
)

// Info capabilities: optional abilities a plugin advertises.
const (
	// capSourceAck: the source implements sdk.SourceAcker.
	capSourceAck = "source.ack"
	// capPrecheck: the plugin implements sdk.Prechecker.
	capPrecheck = "precheck"
	// capSourceListTables: the source implements sdk.TableLister.
	capSourceListTables = "source.list_tables"
	// capSourceSetTables: the source implements sdk.TableSelector.
	capSourceSetTables = "source.set_tables"
	// capSourceSnapshotProgress: the source implements sdk.ProgressReporter.
	capSourceSnapshotProgress = "source.snapshot_progress"
	// capSourceResnapshot: the source implements sdk.Resnapshotter.
	capSourceResnapshot = "source.resnapshot"
	// capSourceDescribePosition: the source implements sdk.PositionDescriber.
	capSourceDescribePosition = "source.describe_position"
)

// controlServer serves the calls every kind has. Each kind's server embeds it.
type controlServer struct {
	p    sdk.Plugin
	caps []string
	log  *slog.Logger
}

func (s *controlServer) Info(context.Context, *pb.InfoRequest) (*pb.InfoResponse, error) {
	return &pb.InfoResponse{Info: infoToPB(s.p.Info(), s.caps)}, nil
}

func (s *controlServer) Spec(context.Context, *pb.SpecRequest) (*pb.SpecResponse, error) {
	spec, err := specToPB(s.p.Spec())
	if err != nil {
		return nil, err
	}
	return &pb.SpecResponse{Spec: spec}, nil
}

func (s *controlServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	err := s.p.Configure(ctx, sdk.NewConfig(req.Config).WithLogger(s.log))
	resp := &pb.ConfigureResponse{Diagnostics: diagnosticsToPB(err, nil)}
	if os, ok := s.p.(sdk.OrderScoper); ok && err == nil {
		resp.OrderScope = string(os.OrderScope())
	}
	return resp, nil
}

func (s *controlServer) Precheck(ctx context.Context, _ *pb.PrecheckRequest) (*pb.PrecheckResponse, error) {
	pc, ok := s.p.(sdk.Prechecker)
	if !ok {
		return &pb.PrecheckResponse{}, nil
	}
	checks, err := pc.Precheck(ctx)
	resp := &pb.PrecheckResponse{Checks: make([]*pb.Check, len(checks))}
	for i, c := range checks {
		resp.Checks[i] = &pb.Check{Name: c.Name, Status: string(c.Status), Detail: c.Detail, Consequence: c.Consequence}
	}
	if err != nil {
		resp.Error = err.Error()
	}
	return resp, nil
}

// controlRPC is the client side of the calls every kind has; every generated client has it.
type controlRPC interface {
	Info(ctx context.Context, in *pb.InfoRequest, opts ...grpc.CallOption) (*pb.InfoResponse, error)
	Spec(ctx context.Context, in *pb.SpecRequest, opts ...grpc.CallOption) (*pb.SpecResponse, error)
	Configure(ctx context.Context, in *pb.ConfigureRequest, opts ...grpc.CallOption) (*pb.ConfigureResponse, error)
	Precheck(ctx context.Context, in *pb.PrecheckRequest, opts ...grpc.CallOption) (*pb.PrecheckResponse, error)
}

// control is the client side of Info, Spec and Configure. Each kind's client embeds it.
// Info and Spec are fetched once, when the plugin is dispensed.
type control struct {
	rpc  controlRPC
	info sdk.Info
	caps []string
	spec sdk.Spec
	// orderScope is the scope the last successful Configure reported (sinks only).
	orderScope sdk.OrderScope
}

// dispenseTimeout bounds the Info and Spec calls made when a plugin is dispensed.
const dispenseTimeout = 30 * time.Second

func newControl(ctx context.Context, rpc controlRPC, kind sdk.Kind) (control, error) {
	ctx, cancel := context.WithTimeout(ctx, dispenseTimeout)
	defer cancel()
	c := control{rpc: rpc}
	ir, err := rpc.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return c, fmt.Errorf("plugin does not serve the %s protocol: %w", kind, rpcError(ctx, "Info", err))
	}
	c.info, c.caps = infoFromPB(ir.Info)
	if c.info.Kind != kind {
		return c, fmt.Errorf("plugin %q is a %s, not a %s", c.info.Name, c.info.Kind, kind)
	}
	sr, err := rpc.Spec(ctx, &pb.SpecRequest{})
	if err != nil {
		return c, rpcError(ctx, "Spec", err)
	}
	if c.spec, err = specFromPB(sr.Spec); err != nil {
		return c, fmt.Errorf("plugin %q: %w", c.info.Name, err)
	}
	return c, nil
}

func (c *control) Info() sdk.Info { return c.info }

func (c *control) Spec() sdk.Spec { return c.spec }

func (c *control) Configure(ctx context.Context, cfg sdk.Config) error {
	resp, err := c.rpc.Configure(ctx, &pb.ConfigureRequest{Config: cfg.JSON()})
	if err != nil {
		return rpcError(ctx, "Configure", err)
	}
	if len(resp.Diagnostics) == 0 {
		c.orderScope = sdk.OrderScope(resp.OrderScope)
	}
	return diagnosticsFromPB(resp.Diagnostics)
}

// Precheck runs the plugin's prechecks; a plugin without them returns none.
func (c *control) Precheck(ctx context.Context) ([]sdk.Check, error) {
	if !c.has(capPrecheck) {
		return nil, nil
	}
	resp, err := c.rpc.Precheck(ctx, &pb.PrecheckRequest{})
	if err != nil {
		return nil, rpcError(ctx, "Precheck", err)
	}
	out := make([]sdk.Check, len(resp.Checks))
	for i, m := range resp.Checks {
		out[i] = sdk.Check{Name: m.Name, Status: sdk.CheckStatus(m.Status), Detail: m.Detail, Consequence: m.Consequence}
	}
	if resp.Error != "" {
		return out, errors.New(resp.Error)
	}
	return out, nil
}

func (c *control) has(capability string) bool {
	for _, x := range c.caps {
		if x == capability {
			return true
		}
	}
	return false
}

func infoToPB(i sdk.Info, caps []string) *pb.Info {
	return &pb.Info{Name: i.Name, Kind: string(i.Kind), Version: i.Version, Summary: i.Summary, Capabilities: caps}
}

func infoFromPB(m *pb.Info) (sdk.Info, []string) {
	if m == nil {
		return sdk.Info{}, nil
	}
	return sdk.Info{Name: m.Name, Kind: sdk.Kind(m.Kind), Version: m.Version, Summary: m.Summary}, m.Capabilities
}

// diagnosticsToPB splits err (possibly an errors.Join tree) into one diagnostic per
// *sdk.AttributeError and one per other error.
func diagnosticsToPB(err error, out []*pb.Diagnostic) []*pb.Diagnostic {
	if err == nil {
		return out
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = diagnosticsToPB(e, out)
		}
		return out
	}
	var ae *sdk.AttributeError
	if errors.As(err, &ae) {
		return append(out, &pb.Diagnostic{Attribute: ae.Attribute, Summary: ae.Summary, Detail: ae.Detail})
	}
	return append(out, &pb.Diagnostic{Summary: err.Error()})
}

// diagnosticsFromPB rebuilds Configure's error: *sdk.AttributeErrors and plain errors, joined
// when there are several.
func diagnosticsFromPB(ds []*pb.Diagnostic) error {
	errs := make([]error, 0, len(ds))
	for _, d := range ds {
		if d.Attribute == "" {
			errs = append(errs, &remoteError{msg: d.Summary})
			continue
		}
		errs = append(errs, &sdk.AttributeError{Attribute: d.Attribute, Summary: d.Summary, Detail: d.Detail})
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

func specToPB(s sdk.Spec) (*pb.Spec, error) {
	out := &pb.Spec{Attributes: make([]*pb.Attribute, len(s.Attributes))}
	for i, a := range s.Attributes {
		m := &pb.Attribute{
			Name: a.Name, Type: string(a.Type), Doc: a.Doc, Required: a.Required,
			Enum: a.Enum, Secret: a.Secret, Min: a.Min, Max: a.Max, Host: string(a.Host),
		}
		if a.Default != nil {
			b, err := json.Marshal(a.Default)
			if err != nil {
				return nil, fmt.Errorf("attribute %q: default: %w", a.Name, err)
			}
			m.DefaultJson = string(b)
		}
		out.Attributes[i] = m
	}
	return out, nil
}

func specFromPB(m *pb.Spec) (sdk.Spec, error) {
	var s sdk.Spec
	if m == nil {
		return s, nil
	}
	s.Attributes = make([]sdk.Attribute, len(m.Attributes))
	for i, a := range m.Attributes {
		attr := sdk.Attribute{
			Name: a.Name, Type: sdk.Type(a.Type), Doc: a.Doc, Required: a.Required,
			Enum: a.Enum, Secret: a.Secret, Min: a.Min, Max: a.Max, Host: sdk.HostSetting(a.Host),
		}
		if a.DefaultJson != "" {
			d, err := defaultFromJSON(attr.Type, a.DefaultJson)
			if err != nil {
				return s, fmt.Errorf("attribute %q: default %s: %w", a.Name, a.DefaultJson, err)
			}
			attr.Default = d
		}
		s.Attributes[i] = attr
	}
	return s, nil
}

// defaultFromJSON decodes a default into the Go type sdk.Attribute.Default has for t.
func defaultFromJSON(t sdk.Type, text string) (any, error) {
	raw := []byte(text)
	switch t {
	case sdk.TypeString, sdk.TypeDuration:
		var v string
		err := json.Unmarshal(raw, &v)
		return v, err
	case sdk.TypeInt:
		return strconv.ParseInt(text, 10, 64)
	case sdk.TypeFloat:
		return strconv.ParseFloat(text, 64)
	case sdk.TypeBool:
		return strconv.ParseBool(text)
	case sdk.TypeSize:
		if len(text) > 0 && text[0] == '"' {
			var v string
			err := json.Unmarshal(raw, &v)
			return v, err
		}
		return strconv.ParseInt(text, 10, 64)
	case sdk.TypeStringList:
		var v []string
		err := json.Unmarshal(raw, &v)
		return v, err
	case sdk.TypeStringMap:
		var v map[string]string
		err := json.Unmarshal(raw, &v)
		return v, err
	}
	var v any
	err := json.Unmarshal(raw, &v)
	return v, err
}
