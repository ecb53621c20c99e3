package main

// apid as a Talos machine runs it in front of machined: routing by the `node`/`nodes` metadata talosctl sends, and
// forwarding to other machines' apid with the caller's roles (v1.10.3 internal/app/apid/pkg/director/director.go,
// internal/app/apid/pkg/backend/apid.go, internal/app/apid/main.go). The forwarding itself is siderolabs/grpc-proxy,
// the library apid is built on; what follows is the lab's own code for the routing rules those files state.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/siderolabs/grpc-proxy/proxy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/siderolabs/talos/pkg/grpc/middleware/authz"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/constants"
)

// streamedMethods are the server-streaming methods apid registers (internal/app/apid/main.go), plus "Stream$".
var streamedMethods = []*regexp.Regexp{
	regexp.MustCompile(`^/machine\.MachineService/(Copy|DiskUsage|Dmesg|EtcdSnapshot|Events|ImageList|Kubeconfig|List|Logs|PacketCapture|Read)$`),
	regexp.MustCompile(`^/os\.OSService/Dmesg$`),
	regexp.MustCompile(`^/cluster\.ClusterService/HealthCheck$`),
	regexp.MustCompile(`Stream$`),
}

func isStreamed(method string) bool {
	return slices.ContainsFunc(streamedMethods, func(r *regexp.Regexp) bool { return r.MatchString(method) })
}

// router decides where a request to one machine's apid goes.
type router struct {
	local  proxy.Backend
	remote func(target string) (proxy.Backend, error)
}

// director: with `proxyfrom` (another apid forwarded it) or no node metadata, to this machine's machined; `node`:
// one-to-one to that machine; `nodes`: one-to-many, refused for COSI methods (director.go).
func (r *router) director(ctx context.Context, method string) (proxy.Mode, []proxy.Backend, error) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return proxy.One2One, []proxy.Backend{r.local}, nil
	}

	if _, from := md["proxyfrom"]; from {
		return proxy.One2One, []proxy.Backend{r.local}, nil
	}

	nodes, okNodes := md["nodes"]
	node, okNode := md["node"]

	if okNode && len(node) != 1 {
		return proxy.One2One, nil, status.Error(codes.InvalidArgument, "node metadata must be single-valued")
	}

	switch {
	case okNodes:
		if strings.HasPrefix(method, "/cosi.") {
			return proxy.One2One, nil, status.Error(codes.InvalidArgument, "one-2-many proxying is not supported for COSI methods")
		}

		backends := make([]proxy.Backend, len(nodes))

		for i, t := range nodes {
			b, err := r.remote(t)
			if err != nil {
				return proxy.One2Many, nil, status.Error(codes.Internal, err.Error())
			}

			backends[i] = b
		}

		return proxy.One2Many, backends, nil
	case okNode:
		b, err := r.remote(node[0])
		if err != nil {
			return proxy.One2One, nil, status.Error(codes.Internal, err.Error())
		}

		return proxy.One2One, []proxy.Backend{b}, nil
	default:
		return proxy.One2One, []proxy.Backend{r.local}, nil
	}
}

// remoteAPID forwards to a machine's apid over TLS, as apid does, with the caller's roles in metadata and
// `proxyfrom` set so the target serves it locally (backend/apid.go GetConnection).
type remoteAPID struct {
	target string
	tls    *tls.Config

	mu   sync.Mutex
	conn *grpc.ClientConn
}

func (a *remoteAPID) String() string { return a.target }

func (a *remoteAPID) GetConnection(ctx context.Context, _ string) (context.Context, *grpc.ClientConn, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	md = md.Copy()

	authz.SetMetadata(md, authz.GetRoles(ctx))

	if authority := md[":authority"]; len(authority) > 0 {
		md.Set("proxyfrom", authority...)
	} else {
		md.Set("proxyfrom", "unknown")
	}

	delete(md, ":authority")
	delete(md, "nodes")
	delete(md, "node")

	out := metadata.NewOutgoingContext(ctx, md)

	a.mu.Lock()
	defer a.mu.Unlock()

	if a.conn != nil {
		return out, a.conn, nil
	}

	var err error

	a.conn, err = grpc.NewClient(
		net.JoinHostPort(a.target, fmt.Sprint(constants.ApidPort)),
		grpc.WithTransportCredentials(credentials.NewTLS(a.tls)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(constants.GRPCMaxMessageSize), grpc.ForceCodecV2(proxy.Codec())),
	)

	return out, a.conn, err
}

// AppendInfo adds common.Metadata{hostname} to a response, as apid does for one-to-many answers: a unary response's
// first field is its repeated message, whose metadata is field 1 of each; a streamed message gets it appended.
func (a *remoteAPID) AppendInfo(streaming bool, resp []byte) ([]byte, error) {
	payload, err := proto.Marshal(&common.Empty{Metadata: &common.Metadata{Hostname: a.target}})
	if err != nil {
		return nil, err
	}

	if streaming {
		return append(resp, payload...), nil
	}

	const messagesTag = 1<<3 | 2 // field 1, length-delimited

	tag, n1 := protowire.ConsumeVarint(resp)
	if n1 < 0 || tag != messagesTag {
		return nil, fmt.Errorf("unexpected response format from %s", a.target)
	}

	_, n2 := protowire.ConsumeVarint(resp[n1:])
	if n2 < 0 {
		return nil, protowire.ParseError(n2)
	}

	inner := resp[n1+n2:]
	out := protowire.AppendVarint(nil, messagesTag)
	out = protowire.AppendVarint(out, uint64(len(inner)+len(payload)))

	return append(append(out, inner...), payload...), nil
}

// BuildError turns a machine's failure into one answer with metadata.error, so talosctl prints it per node and goes
// on with the others (backend/apid.go BuildError).
func (a *remoteAPID) BuildError(streaming bool, err error) ([]byte, error) {
	md := &common.Empty{Metadata: &common.Metadata{Hostname: a.target, Error: err.Error(), Status: status.Convert(err).Proto()}}
	if streaming {
		return proto.Marshal(md)
	}

	return proto.Marshal(&common.EmptyResponse{Messages: []*common.Empty{md}})
}

// localMachined is apid's connection to its own machined (backend/local.go): roles travel as metadata.
type localMachined struct {
	socket string

	mu   sync.Mutex
	conn *grpc.ClientConn
}

func (l *localMachined) String() string { return "machined" }

func (l *localMachined) GetConnection(ctx context.Context, _ string) (context.Context, *grpc.ClientConn, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	md = md.Copy()

	authz.SetMetadata(md, authz.GetRoles(ctx))

	out := metadata.NewOutgoingContext(ctx, md)

	l.mu.Lock()
	defer l.mu.Unlock()

	if l.conn != nil {
		return out, l.conn, nil
	}

	var err error

	l.conn, err = grpc.NewClient("unix://"+l.socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(constants.GRPCMaxMessageSize), grpc.ForceCodecV2(proxy.Codec())),
	)

	return out, l.conn, err
}

func (l *localMachined) AppendInfo(_ bool, resp []byte) ([]byte, error) { return resp, nil }

func (l *localMachined) BuildError(bool, error) ([]byte, error) { return nil, nil }

func (l *localMachined) close() {
	l.mu.Lock()
	defer l.mu.Unlock()

	if l.conn != nil {
		l.conn.Close() //nolint:errcheck
		l.conn = nil
	}
}
