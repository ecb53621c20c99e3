package main

// The COSI resource state a machine serves (`talosctl get`): the namespaces and resource definitions of Talos's own
// pkg/machinery types, registered as machined registers them (v1.10.3
// internal/app/machined/pkg/runtime/v1alpha2/v1alpha2_state.go), so type names, aliases, print columns and
// sensitivity are Talos's. Instances come from the lab's machine model, decoded strictly into the real spec structs:
// a spec field the real type does not have is an error, not a silently different resource.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	cosiapi "github.com/cosi-project/runtime/api/v1alpha1"
	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/resource/meta"
	"github.com/cosi-project/runtime/pkg/resource/protobuf"
	"github.com/cosi-project/runtime/pkg/state"
	"github.com/cosi-project/runtime/pkg/state/impl/inmem"
	"github.com/cosi-project/runtime/pkg/state/impl/namespaced"
	"github.com/cosi-project/runtime/pkg/state/registry"
	"gopkg.in/yaml.v3"

	talosconfig "github.com/siderolabs/talos/pkg/machinery/config"

	"github.com/siderolabs/talos/pkg/machinery/resources/block"
	"github.com/siderolabs/talos/pkg/machinery/resources/cluster"
	"github.com/siderolabs/talos/pkg/machinery/resources/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/etcd"
	"github.com/siderolabs/talos/pkg/machinery/resources/files"
	"github.com/siderolabs/talos/pkg/machinery/resources/hardware"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/network"
	"github.com/siderolabs/talos/pkg/machinery/resources/runtime"
	"github.com/siderolabs/talos/pkg/machinery/resources/secrets"
	"github.com/siderolabs/talos/pkg/machinery/resources/v1alpha1"
)

// namespaces machined registers (v1alpha2_state.go), those the lab's resources live in.
var namespaces = []struct{ name, description string }{
	{v1alpha1.NamespaceName, "Talos v1alpha1 subsystems glue resources."},
	{cluster.NamespaceName, "Cluster configuration and discovery resources."},
	{config.NamespaceName, "Talos node configuration."},
	{etcd.NamespaceName, "etcd resources."},
	{files.NamespaceName, "Files and file-like resources."},
	{hardware.NamespaceName, "Hardware resources."},
	{k8s.NamespaceName, "Kubernetes all node types resources."},
	{k8s.ControlPlaneNamespaceName, "Kubernetes control plane resources."},
	{network.NamespaceName, "Networking resources."},
	{network.ConfigNamespaceName, "Networking configuration resources."},
	{secrets.NamespaceName, "Resources with secret material."},
}

// resourceTypes machined registers (v1alpha2_state.go), the part the lab's model can fill or talosctl looks up.
// A type not listed here is unknown to the lab's machines, as it would be to a Talos that lacks it.
var resourceTypes = []meta.ResourceWithRD{
	&block.Device{}, &block.DiscoveredVolume{}, &block.Disk{}, &block.MountStatus{}, &block.Symlink{},
	&block.SystemDisk{}, &block.UserDiskConfigStatus{}, &block.VolumeConfig{}, &block.VolumeMountStatus{},
	&block.VolumeStatus{},
	&cluster.Identity{}, &cluster.Info{}, &cluster.Member{},
	&config.MachineConfig{}, &config.MachineType{},
	&etcd.Member{}, &etcd.Spec{},
	&hardware.MemoryModule{}, &hardware.PCIDevice{}, &hardware.Processor{}, &hardware.SystemInformation{},
	&k8s.APIServerConfig{}, &k8s.ControllerManagerConfig{}, &k8s.SchedulerConfig{},
	&k8s.KubeletSpec{}, &k8s.Manifest{}, &k8s.Nodename{}, &k8s.NodeIP{}, &k8s.NodeLabelSpec{}, &k8s.NodeTaintSpec{},
	&k8s.StaticPodStatus{}, &k8s.NodeStatus{},
	&network.AddressStatus{}, &network.EthernetStatus{}, &network.HardwareAddr{}, &network.HostnameStatus{},
	&network.LinkStatus{}, &network.NodeAddress{}, &network.ResolverStatus{}, &network.RouteStatus{},
	&network.Status{}, &network.TimeServerStatus{},
	&runtime.ExtensionStatus{}, &runtime.KernelModuleSpec{}, &runtime.KernelParamStatus{},
	&runtime.MachineStatus{}, &runtime.MountStatus{}, &runtime.SecurityState{}, &runtime.Version{},
	&v1alpha1.Service{},
}

// newMachineState: the resource state of one machine, its definitions registered.
func newMachineState(ctx context.Context) (state.State, error) {
	st := state.WrapCore(namespaced.NewState(inmem.Build))

	nsReg := registry.NewNamespaceRegistry(st)
	if err := nsReg.RegisterDefault(ctx); err != nil {
		return nil, err
	}

	for _, ns := range namespaces {
		if err := nsReg.Register(ctx, ns.name, ns.description); err != nil {
			return nil, err
		}
	}

	resReg := registry.NewResourceRegistry(st)
	if err := resReg.RegisterDefault(ctx); err != nil {
		return nil, err
	}

	for _, r := range resourceTypes {
		if err := resReg.Register(ctx, r); err != nil {
			return nil, err
		}
	}

	return st, nil
}

// modelResource is one resource as the machine model states it.
type modelResource struct {
	Namespace string          `json:"namespace"`
	ID        string          `json:"id"`
	Owner     string          `json:"owner"`
	Spec      json.RawMessage `json:"spec"`
}

// refreshingState brings a kind up to date from the machine model before every read of it.
type refreshingState struct {
	state.CoreState

	st    state.State
	nodes *nodeSet
	name  string
	mu    sync.Mutex
}

func (s *refreshingState) refresh(ctx context.Context, ns resource.Namespace, typ resource.Type) error {
	if ns == meta.NamespaceName {
		return nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	want, err := s.fromModel(ctx, typ)
	if err != nil {
		return err
	}

	have, err := s.st.List(ctx, resource.NewMetadata(ns, typ, "", resource.VersionUndefined))
	if err != nil {
		return err
	}

	seen := map[resource.ID]bool{}

	for _, r := range want {
		if r.Metadata().Namespace() != ns {
			continue
		}

		seen[r.Metadata().ID()] = true

		if err := s.put(ctx, r); err != nil {
			return err
		}
	}

	for _, r := range have.Items {
		if !seen[r.Metadata().ID()] {
			if err := s.st.Destroy(ctx, r.Metadata(), state.WithDestroyOwner(r.Metadata().Owner())); err != nil && !state.IsNotFoundError(err) {
				return err
			}
		}
	}

	return nil
}

// put creates r or updates it when its spec changed.
func (s *refreshingState) put(ctx context.Context, r resource.Resource) error {
	cur, err := s.st.Get(ctx, r.Metadata())
	if state.IsNotFoundError(err) {
		return s.st.Create(ctx, r, state.WithCreateOwner(r.Metadata().Owner()))
	}

	if err != nil {
		return err
	}

	// the same spec under the same metadata is no change: its version stays (compared with the current version, not
	// the one the model's resource was made with, which made every refresh an update and every read a new version)
	r.Metadata().SetVersion(cur.Metadata().Version())

	if resource.Equal(cur, r) {
		return nil
	}

	return s.st.Update(ctx, r, state.WithUpdateOwner(r.Metadata().Owner()))
}

// fromModel asks the machine model for every resource of a type on this machine.
func (s *refreshingState) fromModel(ctx context.Context, typ resource.Type) ([]resource.Resource, error) {
	switch typ {
	case config.MachineConfigType:
		return s.machineConfigs()
	case k8s.APIServerConfigType, k8s.ControllerManagerConfigType, k8s.SchedulerConfigType:
		return s.fromActiveConfig(func(_ Node, cfg talosconfig.Provider) ([]resource.Resource, error) {
			return controlPlaneConfigs(cfg, typ)
		})
	case k8s.KubeletSpecType:
		return s.fromActiveConfig(kubeletSpecs)
	case k8s.ManifestType:
		return s.fromActiveConfig(func(_ Node, cfg talosconfig.Provider) ([]resource.Resource, error) {
			return manifestResources(cfg)
		})
	}

	var items []modelResource
	if err := s.nodes.model.NodeCall(ctx, s.name, "resources", map[string]string{"type": typ}, &items); err != nil {
		return nil, err
	}

	out := make([]resource.Resource, 0, len(items))

	for _, it := range items {
		r, err := typedResource(it.Namespace, typ, it.ID, it.Owner, it.Spec)
		if err != nil {
			return nil, fmt.Errorf("lab model, %s %s/%s: %w", typ, it.Namespace, it.ID, err)
		}

		out = append(out, r)
	}

	return out, nil
}

// machineConfigs: the config a configured machine runs, as two resources, `persistent` (saved to STATE) and
// `v1alpha1` (active) (pkg/machinery/resources/config/machine_config.go: ActiveID, PersistentID); they differ while
// a staged config waits for a reboot.
func (s *refreshingState) machineConfigs() ([]resource.Resource, error) {
	return s.fromActiveConfig(func(n Node, cfg talosconfig.Provider) ([]resource.Resource, error) {
		// a staged config (apply --mode staged) or the config a try replaced is saved but not running
		persistent := cfg
		if n.PersistentConfig != "" {
			var err error
			if persistent, err = loadNodeConfig(n.PersistentConfig); err != nil {
				return nil, err
			}
		}

		return []resource.Resource{
			config.NewMachineConfigWithID(persistent, config.PersistentID),
			config.NewMachineConfigWithID(cfg, config.ActiveID),
		}, nil
	})
}

// fromActiveConfig: resources made from the machine's active config (MachineConfigs, and those Talos's controllers
// make from it); none without one.
func (s *refreshingState) fromActiveConfig(build func(Node, talosconfig.Provider) ([]resource.Resource, error)) ([]resource.Resource, error) {
	n, ok := s.nodes.get(s.name)
	if !ok || n.Config == "" {
		return nil, nil
	}

	cfg, err := loadNodeConfig(n.Config)
	if err != nil {
		return nil, err
	}

	return build(n, cfg)
}

// typedResource builds the real resource type with the model's spec, refusing any field the type does not have; the
// owner is the controller that writes it on a real machine (metadata.owner of `talosctl get -o yaml`).
func typedResource(ns resource.Namespace, typ resource.Type, id resource.ID, owner string, spec json.RawMessage) (resource.Resource, error) {
	pr, err := protobuf.Unmarshal(&cosiapi.Resource{
		Metadata: &cosiapi.Metadata{Namespace: ns, Type: typ, Id: id, Owner: owner, Version: "1", Phase: "running"},
		Spec:     &cosiapi.Spec{},
	})
	if err != nil {
		return nil, err
	}

	r, err := protobuf.UnmarshalResource(pr)
	if err != nil {
		return nil, err
	}

	if _, isProto := r.(*protobuf.Resource); isProto {
		return nil, fmt.Errorf("type %s has no Go type registered", typ)
	}

	dec := yaml.NewDecoder(bytes.NewReader(spec))
	dec.KnownFields(true)

	if err := dec.Decode(r.Spec()); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}

	return r, nil
}

func (s *refreshingState) Get(ctx context.Context, p resource.Pointer, opts ...state.GetOption) (resource.Resource, error) {
	if err := s.refresh(ctx, p.Namespace(), p.Type()); err != nil {
		return nil, err
	}

	return s.CoreState.Get(ctx, p, opts...)
}

func (s *refreshingState) List(ctx context.Context, k resource.Kind, opts ...state.ListOption) (resource.List, error) {
	if err := s.refresh(ctx, k.Namespace(), k.Type()); err != nil {
		return resource.List{}, err
	}

	return s.CoreState.List(ctx, k, opts...)
}

// watchRefreshInterval: how often a watched kind is read again from the machine model. A controller on a real machine
// updates its resources as its inputs change and a watcher hears of it at once; the lab's resources exist only as
// read from the model, so a watch (`talosctl get -w`, upgrade-k8s waiting for a new APIServerConfig version) hears
// of a change within this interval.
const watchRefreshInterval = 500 * time.Millisecond

// follow refreshes a watched kind until the watch ends; a failed read (the machine going down) is tried again.
func (s *refreshingState) follow(ctx context.Context, ns resource.Namespace, typ resource.Type) {
	ticker := time.NewTicker(watchRefreshInterval)
	defer ticker.Stop()

	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			_ = s.refresh(ctx, ns, typ) //nolint:errcheck
		}
	}
}

func (s *refreshingState) Watch(ctx context.Context, p resource.Pointer, ch chan<- state.Event, opts ...state.WatchOption) error {
	if err := s.refresh(ctx, p.Namespace(), p.Type()); err != nil {
		return err
	}

	if err := s.CoreState.Watch(ctx, p, ch, opts...); err != nil {
		return err
	}

	go s.follow(ctx, p.Namespace(), p.Type())

	return nil
}

func (s *refreshingState) WatchKind(ctx context.Context, k resource.Kind, ch chan<- state.Event, opts ...state.WatchKindOption) error {
	if err := s.refresh(ctx, k.Namespace(), k.Type()); err != nil {
		return err
	}

	if err := s.CoreState.WatchKind(ctx, k, ch, opts...); err != nil {
		return err
	}

	go s.follow(ctx, k.Namespace(), k.Type())

	return nil
}

func (s *refreshingState) WatchKindAggregated(ctx context.Context, k resource.Kind, ch chan<- []state.Event, opts ...state.WatchKindOption) error {
	if err := s.refresh(ctx, k.Namespace(), k.Type()); err != nil {
		return err
	}

	if err := s.CoreState.WatchKindAggregated(ctx, k, ch, opts...); err != nil {
		return err
	}

	go s.follow(ctx, k.Namespace(), k.Type())

	return nil
}
