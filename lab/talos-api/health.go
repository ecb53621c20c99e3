package main

// machined's ClusterService HealthCheck, what `talosctl health` runs by default (--server=true; v1.10.3
// internal/app/machined/internal/server/v1alpha1/v1alpha1_cluster.go HealthCheck): the cluster's nodes (given, or
// from discovery), then Talos's default cluster checks one after the other with pkg/cluster/check.Wait, each a
// conditions.PollingCondition, the progress streamed as "waiting for <condition>" lines.
//
// The checks that go through the Talos API run Talos's own assertions (pkg/cluster/check: ServiceHealthAssertion,
// EtcdConsistentAssertion, EtcdControlPlaneNodesAssertion, ApidReadyAssertion) with a Talos client on this machine's
// local apid socket, as machined's LocalClientProvider does (pkg/cluster/local.go): a node that is down fails them
// with exactly the error a real cluster gives. The rest (memory and disk sizes, diagnostics, boot sequence, the
// Kubernetes checks) are answered by the machine model (lab/machine-api/health.ts).

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/siderolabs/gen/xslices"
	"github.com/siderolabs/talos/pkg/cluster"
	"github.com/siderolabs/talos/pkg/cluster/check"
	"github.com/siderolabs/talos/pkg/conditions"
	"github.com/siderolabs/talos/pkg/grpc/middleware/authz"
	k8s "github.com/siderolabs/talos/pkg/kubernetes"
	clusterapi "github.com/siderolabs/talos/pkg/machinery/api/cluster"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	clusterres "github.com/siderolabs/talos/pkg/machinery/resources/cluster"
)

type clusterServer struct {
	clusterapi.UnimplementedClusterServiceServer

	name       string
	nodes      *nodeSet
	apidSocket string
}

// labCluster is what the checks see: the nodes, a Talos client through the local apid, and the model.
type labCluster struct {
	cluster.Info

	talos *client.Client
	srv   *clusterServer
	req   *clusterapi.HealthCheckRequest
}

func (c *labCluster) Client(endpoints ...string) (*client.Client, error) {
	if len(endpoints) > 0 {
		return nil, errors.New("custom endpoints not supported with LocalClientProvider")
	}

	return c.talos, nil
}

func (c *labCluster) Close() error { return nil }

// The lab's Kubernetes checks are the model's: no assertion here reaches for a Kubernetes client.
var errNoK8s = errors.New("the lab answers the Kubernetes checks in its machine model")

func (c *labCluster) Kubeconfig(context.Context) ([]byte, error)               { return nil, errNoK8s }
func (c *labCluster) K8sRestConfig(context.Context) (*rest.Config, error)      { return nil, errNoK8s }
func (c *labCluster) K8sClient(context.Context) (*kubernetes.Clientset, error) { return nil, errNoK8s }
func (c *labCluster) K8sHelper(context.Context) (*k8s.Client, error)           { return nil, errNoK8s }
func (c *labCluster) K8sClose() error                                          { return nil }

func ips(nodes []cluster.NodeInfo) []string {
	return xslices.Map(nodes, func(n cluster.NodeInfo) string { return n.InternalIP.String() })
}

// modelAssertion: one check answered by the machine model; it answers {skip} or refuses with the assertion's error.
func (c *labCluster) modelAssertion(name string) conditions.AssertionFunc {
	return func(ctx context.Context) error {
		var answer struct {
			Skip bool `json:"skip"`
		}

		args := map[string]any{
			"check":             name,
			"controlPlaneNodes": ips(append(c.NodesByType(machine.TypeInit), c.NodesByType(machine.TypeControlPlane)...)),
			"workerNodes":       ips(c.NodesByType(machine.TypeWorker)),
			"forceEndpoint":     c.req.GetClusterInfo().GetForceEndpoint(),
		}

		err := c.srv.nodes.model.NodeCall(ctx, c.srv.name, "HealthAssert", args, &answer)

		var me *ModelError

		switch {
		case errors.As(err, &me):
			return errors.New(me.Message)
		case err != nil:
			return err
		case answer.Skip:
			return conditions.ErrSkipAssertion
		}

		return nil
	}
}

// healthCheck is one of Talos's default checks: its name, timeout and poll interval as pkg/cluster/check/default.go
// (v1.10.3) states them, and the assertion (Talos's own, or the model's).
type healthCheck struct {
	name              string
	timeout, interval time.Duration
	talos             func(ctx context.Context, cl check.ClusterInfo) error
}

func controlPlaneService(service string) func(context.Context, check.ClusterInfo) error {
	return func(ctx context.Context, cl check.ClusterInfo) error {
		return check.ServiceHealthAssertion(ctx, cl, service, check.WithNodeTypes(machine.TypeInit, machine.TypeControlPlane))
	}
}

// defaultChecks: check.DefaultClusterChecks() in its order, PreBootSequenceChecks (default.go:113-172),
// K8sComponentsReadinessChecks (:71-100), then the rest of DefaultClusterChecks (:17-68); ExtraClusterChecks is empty.
var defaultChecks = []healthCheck{
	{"etcd to be healthy", 5 * time.Minute, 5 * time.Second, controlPlaneService("etcd")},
	{"etcd members to be consistent across nodes", 5 * time.Minute, 5 * time.Second, check.EtcdConsistentAssertion},
	{"etcd members to be control plane nodes", 5 * time.Minute, 5 * time.Second, check.EtcdControlPlaneNodesAssertion},
	{"apid to be ready", 5 * time.Minute, 5 * time.Second, check.ApidReadyAssertion},
	{"all nodes memory sizes", 5 * time.Minute, 5 * time.Second, nil},
	{"all nodes disk sizes", 5 * time.Minute, 5 * time.Second, nil},
	{"no diagnostics", time.Minute, 5 * time.Second, nil},
	{"kubelet to be healthy", 5 * time.Minute, 5 * time.Second, controlPlaneService("kubelet")},
	{"all nodes to finish boot sequence", 5 * time.Minute, 5 * time.Second, nil},
	{"all k8s nodes to report", 5 * time.Minute, 30 * time.Second, nil},
	{"all control plane static pods to be running", 5 * time.Minute, 5 * time.Second, nil},
	{"all control plane components to be ready", 5 * time.Minute, 5 * time.Second, nil},
	{"all k8s nodes to report ready", 10 * time.Minute, 5 * time.Second, nil},
	{"kube-proxy to report ready", 5 * time.Minute, 5 * time.Second, nil},
	{"coredns to report ready", 5 * time.Minute, 5 * time.Second, nil},
	{"all k8s nodes to report schedulable", 5 * time.Minute, 5 * time.Second, nil},
}

func (c *labCluster) clusterChecks() []check.ClusterCheck {
	return xslices.Map(defaultChecks, func(hc healthCheck) check.ClusterCheck {
		return func(cl check.ClusterInfo) conditions.Condition {
			assertion := c.modelAssertion(hc.name)
			if hc.talos != nil {
				assertion = func(ctx context.Context) error { return hc.talos(ctx, cl) }
			}

			return conditions.PollingCondition(hc.name, assertion, hc.timeout, hc.interval)
		}
	})
}

// healthReporter sends each new "waiting for <condition>" line (v1alpha1_cluster.go healthReporter).
type healthReporter struct {
	srv      grpc.ServerStreamingServer[clusterapi.HealthCheckProgress]
	lastLine string
}

func (hr *healthReporter) Update(condition conditions.Condition) {
	line := fmt.Sprintf("waiting for %s", condition)
	if line == hr.lastLine {
		return
	}

	hr.srv.Send(&clusterapi.HealthCheckProgress{Message: strings.TrimSpace(line)}) //nolint:errcheck

	hr.lastLine = line
}

// explicitNodes: `--control-plane-nodes` / `--worker-nodes` (v1alpha1_cluster.go buildClusterInfo, the first case).
type explicitNodes struct {
	nodes  []cluster.NodeInfo
	byType map[machine.Type][]cluster.NodeInfo
}

func (e *explicitNodes) Nodes() []cluster.NodeInfo                     { return e.nodes }
func (e *explicitNodes) NodesByType(t machine.Type) []cluster.NodeInfo { return e.byType[t] }

// clusterInfo: the nodes given in the request, else the cluster's members as discovery knows them.
func (s *clusterServer) clusterInfo(ctx context.Context, in *clusterapi.HealthCheckRequest) (cluster.Info, error) {
	cps, workers := in.GetClusterInfo().GetControlPlaneNodes(), in.GetClusterInfo().GetWorkerNodes()

	if len(cps) > 0 || len(workers) > 0 {
		cpInfos, err := cluster.IPsToNodeInfos(cps)
		if err != nil {
			return nil, err
		}

		workerInfos, err := cluster.IPsToNodeInfos(workers)
		if err != nil {
			return nil, err
		}

		return &explicitNodes{
			nodes:  append(append([]cluster.NodeInfo{}, cpInfos...), workerInfos...),
			byType: map[machine.Type][]cluster.NodeInfo{machine.TypeControlPlane: cpInfos, machine.TypeWorker: workerInfos},
		}, nil
	}

	var found []struct {
		ID          string   `json:"id"`
		Addresses   []string `json:"addresses"`
		MachineType string   `json:"machineType"`
	}

	if err := s.nodes.model.NodeCall(ctx, s.name, "HealthMembers", struct{}{}, &found); err != nil {
		return nil, grpcError(err)
	}

	members := make([]*clusterres.Member, 0, len(found))

	for _, f := range found {
		typ, err := machine.ParseType(f.MachineType)
		if err != nil {
			return nil, err
		}

		m := clusterres.NewMember(clusterres.NamespaceName, f.ID)
		m.TypedSpec().MachineType = typ
		m.TypedSpec().Hostname = f.ID

		for _, a := range f.Addresses {
			addr, err := netip.ParseAddr(a)
			if err != nil {
				return nil, err
			}

			m.TypedSpec().Addresses = append(m.TypedSpec().Addresses, addr)
		}

		members = append(members, m)
	}

	return check.NewDiscoveredClusterInfo(members)
}

func (s *clusterServer) HealthCheck(in *clusterapi.HealthCheckRequest, srv grpc.ServerStreamingServer[clusterapi.HealthCheckProgress]) error {
	checkCtx, cancel := context.WithTimeout(srv.Context(), in.WaitTimeout.AsDuration())
	defer cancel()

	// the checks call the Talos API with the caller's roles (v1alpha1_cluster.go:46-48)
	md := metadata.New(nil)
	authz.SetMetadata(md, authz.GetRoles(srv.Context()))
	checkCtx = metadata.NewOutgoingContext(checkCtx, md)

	talos, err := client.New(checkCtx, client.WithUnixSocket(s.apidSocket),
		client.WithGRPCDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		return err
	}

	defer talos.Close() //nolint:errcheck

	info, err := s.clusterInfo(checkCtx, in)
	if err != nil {
		return err
	}

	state := &labCluster{Info: info, talos: talos, srv: s, req: in}

	if err := srv.Send(&clusterapi.HealthCheckProgress{
		Message: fmt.Sprintf("discovered nodes: %q", ips(info.Nodes())),
	}); err != nil {
		return err
	}

	return check.Wait(checkCtx, state, state.clusterChecks(), &healthReporter{srv: srv})
}
