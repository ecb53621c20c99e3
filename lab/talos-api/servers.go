package main

// One lab machine's API endpoint, started and stopped as the machine model says the machine is up: apid on
// <address>:50000 (TLS, roles from the client certificate) in front of machined on a unix socket, or the maintenance
// service alone on :50000 when the machine has no config. A machine that is off or down has no listener, so talosctl
// sees "connection refused" exactly as it would from a powered-off machine.

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cosiapi "github.com/cosi-project/runtime/api/v1alpha1"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/cosi-project/runtime/pkg/state/protobuf/server"
	"github.com/siderolabs/grpc-proxy/proxy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/siderolabs/talos/pkg/grpc/middleware/authz"
	clusterapi "github.com/siderolabs/talos/pkg/machinery/api/cluster"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"github.com/siderolabs/talos/pkg/machinery/role"
)

// rawJSON passes JSON through encoding/json untouched.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)

	return nil
}

func modeName(m machine.ApplyConfigurationRequest_Mode) string {
	return strings.ReplaceAll(strings.ToLower(m.String()), "_", "-")
}

// nodeSet is the model's latest word on every machine.
type nodeSet struct {
	model *Model

	mu    sync.RWMutex
	nodes map[string]Node
}

func (s *nodeSet) get(name string) (Node, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()

	n, ok := s.nodes[name]

	return n, ok
}

func (s *nodeSet) set(nodes []Node) {
	m := make(map[string]Node, len(nodes))
	for _, n := range nodes {
		m[n.Name] = n
	}

	s.mu.Lock()
	s.nodes = m
	s.mu.Unlock()
}

// endpoint is a machine's running API servers.
type endpoint struct {
	key     string
	servers []*grpc.Server
	local   *localMachined
	remotes *remoteCache
}

// stopGrace is how long a stopping endpoint lets its calls in flight finish: the answer to the call that brought the
// change about (a maintenance apply-config, whose install rebuilds the endpoint, a reboot) still reaches its client,
// as from a real machine, instead of an "error reading from server: EOF". New connections are refused at once; a
// stream still open after it (logs -f, events) is cut, as a machine going down cuts it.
const stopGrace = 500 * time.Millisecond

func (e *endpoint) stop() {
	for _, s := range e.servers {
		done := make(chan struct{})

		go func() {
			s.GracefulStop()
			close(done)
		}()

		select {
		case <-done:
		case <-time.After(stopGrace):
			s.Stop()
		}
	}

	if e.local != nil {
		e.local.close()
	}

	if e.remotes != nil {
		e.remotes.flush()
	}
}

// servingKey changes whenever the endpoint must be rebuilt: power, maintenance, or other certificates. A config change
// that leaves the machine's CAs alone (apply-config of sysctls, kubelet, ...) keeps apid serving, as on a real machine,
// so a client that talks to it right after an apply is not refused.
func servingKey(n Node) string {
	if !n.Serving() {
		return ""
	}

	h := sha256.New()

	if cfg, err := loadNodeConfig(n.Config); err == nil && !n.Maintenance() {
		if ca := cfg.Machine().Security().IssuingCA(); ca != nil {
			h.Write(ca.Crt)
		}

		for _, accepted := range cfg.Machine().Security().AcceptedCAs() {
			h.Write(accepted.Crt)
		}
	} else {
		h.Write([]byte(n.Config))
	}

	return fmt.Sprintf("%s|%v|%x", n.Address, n.Maintenance(), h.Sum(nil)[:8])
}

// slowInterceptors: the `slow` fault, every call takes longer.
func slowUnary(nodes *nodeSet, name string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		delay(ctx, nodes, name)

		return h(ctx, req)
	}
}

func slowStream(nodes *nodeSet, name string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		delay(ss.Context(), nodes, name)

		return h(srv, ss)
	}
}

func delay(ctx context.Context, nodes *nodeSet, name string) {
	if n, ok := nodes.get(name); ok && n.SlowMs > 0 {
		select {
		case <-time.After(time.Duration(n.SlowMs) * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// filteredState: the machine's resources, read-only through the access policy.
func filteredState(ctx context.Context, nodes *nodeSet, name string) (state.State, error) {
	st, err := newMachineState(ctx)
	if err != nil {
		return nil, err
	}

	refreshing := &refreshingState{CoreState: st, st: st, nodes: nodes, name: name}

	return state.WrapCore(state.Filter(refreshing, accessPolicy(st))), nil
}

type supervisor struct {
	nodes  *nodeSet
	runDir string

	mu        sync.Mutex
	endpoints map[string]*endpoint
}

// reconcile starts, rebuilds or stops each machine's endpoint to match the model.
func (s *supervisor) reconcile(ctx context.Context) error {
	list, err := s.nodes.model.Nodes(ctx)
	if err != nil {
		return err
	}

	s.nodes.set(list)

	var cfgs []config.Provider

	for _, n := range list {
		if n.Config == "" {
			continue
		}

		if c, err := loadNodeConfig(n.Config); err == nil {
			cfgs = append(cfgs, c)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	for _, n := range list {
		key := servingKey(n)
		cur := s.endpoints[n.Name]

		if cur != nil && cur.key == key {
			continue
		}

		if cur != nil {
			cur.stop()
			delete(s.endpoints, n.Name)
			// every time a machine stops answering is in the log: a test that meets "connection refused" shows why
			logf("%s: stopped serving (stage %s, down %v, maintenance %v)", n.Name, n.Stage, n.Down, n.Maintenance())
		}

		if key == "" {
			continue
		}

		ep, err := s.start(ctx, n, cfgs)
		if err != nil {
			logf("%s: cannot serve: %v", n.Name, err)

			continue
		}

		ep.key = key
		s.endpoints[n.Name] = ep
		logf("%s: serving on %s:%d (stage %s, maintenance %v)", n.Name, n.Address, constants.ApidPort, n.Stage, n.Maintenance())
	}

	return nil
}

func (s *supervisor) start(ctx context.Context, n Node, cfgs []config.Provider) (*endpoint, error) {
	if n.Maintenance() {
		return s.startMaintenance(ctx, n)
	}

	return s.startConfigured(ctx, n, cfgs)
}

func listen(n Node) (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort(n.Address, fmt.Sprint(constants.ApidPort)))
}

func (s *supervisor) startMaintenance(ctx context.Context, n Node) (*endpoint, error) {
	tlsCfg, err := maintenanceTLS(n)
	if err != nil {
		return nil, err
	}

	st, err := filteredState(ctx, s.nodes, n.Name)
	if err != nil {
		return nil, err
	}

	// a plain maintenance client is a Reader; only a SideroLink peer would be an Admin (maintenance_service.go)
	injector := &authz.Injector{Mode: authz.ReadOnlyWithAdminOnSiderolink, SideroLinkPeerCheckFunc: notSideroLink}

	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tlsCfg)),
		grpc.ChainUnaryInterceptor(slowUnary(s.nodes, n.Name), injector.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(slowStream(s.nodes, n.Name), injector.StreamInterceptor()),
	)
	machine.RegisterMachineServiceServer(srv, &maintenanceServer{name: n.Name, nodes: s.nodes})
	cosiapi.RegisterStateServer(srv, server.NewState(st))

	lis, err := listen(n)
	if err != nil {
		return nil, err
	}

	go srv.Serve(lis) //nolint:errcheck

	return &endpoint{servers: []*grpc.Server{srv}}, nil
}

func (s *supervisor) startConfigured(ctx context.Context, n Node, cfgs []config.Provider) (*endpoint, error) {
	cfg, err := loadNodeConfig(n.Config)
	if err != nil {
		return nil, fmt.Errorf("its machine config: %w", err)
	}

	ca, err := clusterCA(cfgs)
	if err != nil {
		return nil, err
	}

	serverTLS, err := apidServerTLS(cfg, ca, n)
	if err != nil {
		return nil, err
	}

	clientTLS, err := proxyClientTLS(ca)
	if err != nil {
		return nil, err
	}

	machinedSrv, socket, err := s.startMachined(ctx, n)
	if err != nil {
		return nil, err
	}

	local := &localMachined{socket: socket}
	remotes := &remoteCache{tls: clientTLS}
	r := &router{local: local, remote: remotes.get}

	injector := &authz.Injector{Mode: authz.Enabled}

	apid := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(serverTLS)),
		grpc.ForceServerCodecV2(proxy.Codec()),
		grpc.UnknownServiceHandler(proxy.TransparentHandler(r.director, proxy.WithStreamedDetector(isStreamed))),
		grpc.MaxRecvMsgSize(constants.GRPCMaxMessageSize),
		grpc.ChainUnaryInterceptor(slowUnary(s.nodes, n.Name), injector.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(slowStream(s.nodes, n.Name), injector.StreamInterceptor()),
	)

	lis, err := listen(n)
	if err != nil {
		machinedSrv.Stop()

		return nil, err
	}

	go apid.Serve(lis) //nolint:errcheck

	localAPID, err := s.serveLocalAPID(n, r)
	if err != nil {
		apid.Stop()
		machinedSrv.Stop()

		return nil, err
	}

	return &endpoint{servers: []*grpc.Server{apid, localAPID, machinedSrv}, local: local, remotes: remotes}, nil
}

func (s *supervisor) apidSocket(n Node) string { return filepath.Join(s.runDir, n.Name+".apid.sock") }

// serveLocalAPID: apid's unix socket for the machine's own processes (machined's health check client), no TLS, the
// roles taken from metadata (v1.10.3 internal/app/apid/main.go:202-226, authz.MetadataOnly).
func (s *supervisor) serveLocalAPID(n Node, r *router) (*grpc.Server, error) {
	injector := &authz.Injector{Mode: authz.MetadataOnly}

	srv := grpc.NewServer(
		grpc.ForceServerCodecV2(proxy.Codec()),
		grpc.UnknownServiceHandler(proxy.TransparentHandler(r.director, proxy.WithStreamedDetector(isStreamed))),
		grpc.MaxRecvMsgSize(constants.GRPCMaxMessageSize),
		grpc.ChainUnaryInterceptor(injector.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(injector.StreamInterceptor()),
	)

	socket := s.apidSocket(n)
	os.Remove(socket) //nolint:errcheck

	lis, err := net.Listen("unix", socket)
	if err != nil {
		return nil, err
	}

	go srv.Serve(lis) //nolint:errcheck

	return srv, nil
}

// startMachined: machined's API on a unix socket, roles from apid's metadata, machined's rules table.
func (s *supervisor) startMachined(ctx context.Context, n Node) (*grpc.Server, string, error) {
	st, err := filteredState(ctx, s.nodes, n.Name)
	if err != nil {
		return nil, "", err
	}

	injector := &authz.Injector{Mode: authz.MetadataOnly}
	authorizer := &authz.Authorizer{Rules: rules, FallbackRoles: role.MakeSet(role.Admin)}

	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(constants.GRPCMaxMessageSize),
		grpc.ChainUnaryInterceptor(injector.UnaryInterceptor(), authorizer.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(injector.StreamInterceptor(), authorizer.StreamInterceptor()),
	)
	machine.RegisterMachineServiceServer(srv, &machinedServer{name: n.Name, nodes: s.nodes})
	clusterapi.RegisterClusterServiceServer(srv, &clusterServer{name: n.Name, nodes: s.nodes, apidSocket: s.apidSocket(n)})
	cosiapi.RegisterStateServer(srv, server.NewState(st))

	socket := filepath.Join(s.runDir, n.Name+".sock")
	os.Remove(socket) //nolint:errcheck

	lis, err := net.Listen("unix", socket)
	if err != nil {
		return nil, "", err
	}

	go srv.Serve(lis) //nolint:errcheck

	return srv, socket, nil
}

// compile-time checks of what the servers implement
var (
	_ tls.Certificate
	_ = json.Marshal
)

// logf writes one timestamped line to the server's log (the lab keeps it as <lab dir>/talos-api.log).
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}
