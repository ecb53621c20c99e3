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
	"time"

	"github.com/siderolabs/grpc-proxy/proxy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
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

	lazyConn
}

// lazyConn is a backend's one gRPC connection, dialled on first use and kept until close.
type lazyConn struct {
	mu   sync.Mutex
	conn *grpc.ClientConn
}

func (c *lazyConn) get(dial func() (*grpc.ClientConn, error)) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.conn != nil {
		return c.conn, nil
	}

	var err error

	c.conn, err = dial()

	return c.conn, err
}

func (c *lazyConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.conn != nil {
		c.conn.Close() //nolint:errcheck
		c.conn = nil
	}
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

	conn, err := a.get(func() (*grpc.ClientConn, error) {
		// apid's dial options (backend/apid.go NewAPID → GetConnection): the reconnect back-off capped at 15 s, so a
		// machine that was down is reachable through another's apid again at most about 15 s after it is back; idle
		// after 15 minutes.
		backoffConfig := backoff.DefaultConfig
		backoffConfig.MaxDelay = 15 * time.Second

		return grpc.NewClient(
			net.JoinHostPort(a.target, fmt.Sprint(constants.ApidPort)),
			grpc.WithTransportCredentials(credentials.NewTLS(a.tls)),
			grpc.WithIdleTimeout(15*time.Minute),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoffConfig, MinConnectTimeout: 20 * time.Second}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(constants.GRPCMaxMessageSize), grpc.ForceCodecV2(proxy.Codec())),
		)
	})

	return out, conn, err
}

// remoteCache is apid's APIDFactory (v1.10.3 internal/app/apid/pkg/backend/apid_factory.go): one backend, so one
// gRPC connection, per target machine, kept for later requests; Flush closes them all. A backend made per request
// would leave its connection open for the life of the process (the lab's talos-api once held 880 after a deploy,
// each kept alive and costing CPU).
type remoteCache struct {
	tls *tls.Config

	mu       sync.Mutex
	backends map[string]*remoteAPID
}

func (c *remoteCache) get(target string) (proxy.Backend, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if b, ok := c.backends[target]; ok {
		return b, nil
	}

	if c.backends == nil {
		c.backends = map[string]*remoteAPID{}
	}

	b := &remoteAPID{target: target, tls: c.tls.Clone()}
	c.backends[target] = b

	return b, nil
}

// flush closes every cached connection: the endpoint is going away (apid flushes on a new certificate).
func (c *remoteCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()

	for _, b := range c.backends {
		b.close()
	}

	c.backends = nil
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

	lazyConn
}

func (l *localMachined) String() string { return "machined" }

func (l *localMachined) GetConnection(ctx context.Context, _ string) (context.Context, *grpc.ClientConn, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	md = md.Copy()

	authz.SetMetadata(md, authz.GetRoles(ctx))

	out := metadata.NewOutgoingContext(ctx, md)

	conn, err := l.get(func() (*grpc.ClientConn, error) {
		return grpc.NewClient("unix://"+l.socket,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(constants.GRPCMaxMessageSize), grpc.ForceCodecV2(proxy.Codec())),
		)
	})

	return out, conn, err
}

func (l *localMachined) AppendInfo(_ bool, resp []byte) ([]byte, error) { return resp, nil }

func (l *localMachined) BuildError(bool, error) ([]byte, error) { return nil, nil }
