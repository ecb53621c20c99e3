package main

// The control plane's component configs as Talos v1.10.3's transform controllers make them from the active machine
// config (internal/app/machined/pkg/controllers/k8s/control_plane.go: ControlPlaneAPIServerController :173-207,
// ControlPlaneControllerManagerController :216-246, ControlPlaneSchedulerController :252-274), in the controlplane
// namespace and on a control plane only (controlplaneMapFunc :40-56). `talosctl upgrade-k8s` reads each one's image
// and watches its version (pkg/cluster/kubernetes/talos_managed.go upgradeStaticPodOnNode). A resource's version
// goes up when its spec changes (refreshingState.put), as a transform controller's Modify does; the lab's talos-api
// keeps it across a machine's reboot, where machined's in-memory state would start again at 1.

import (
	"net"
	"strconv"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/siderolabs/talos/pkg/machinery/config"
	configtypes "github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
)

// cloudProviderExternal: controllers/k8s CloudProviderExternal, set when cluster.externalCloudProvider is enabled.
const cloudProviderExternal = "external"

// controlPlaneConfigs: the resource of type typ that the active config cfg makes, none on a worker.
func controlPlaneConfigs(cfg config.Provider, typ resource.Type) ([]resource.Resource, error) {
	if cfg.Cluster() == nil || cfg.Machine() == nil || !cfg.Machine().Type().IsControlPlane() {
		return nil, nil
	}

	var (
		r     resource.Resource
		owner string
	)

	switch typ {
	case k8s.APIServerConfigType:
		r, owner = apiServerConfig(cfg), "k8s.ControlPlaneAPIServerController"
	case k8s.ControllerManagerConfigType:
		r, owner = controllerManagerConfig(cfg), "k8s.ControlPlaneControllerManagerController"
	case k8s.SchedulerConfigType:
		r, owner = schedulerConfig(cfg), "k8s.ControlPlaneSchedulerController"
	default:
		return nil, nil
	}

	if err := r.Metadata().SetOwner(owner); err != nil {
		return nil, err
	}

	return []resource.Resource{r}, nil
}

func cloudProvider(cfg config.Provider) string {
	if cfg.Cluster().ExternalCloudProvider().Enabled() {
		return cloudProviderExternal
	}

	return ""
}

func apiServerConfig(cfg config.Provider) *k8s.APIServerConfig {
	api := cfg.Cluster().APIServer()

	// the API server advertises its pod IP, none when the node does not register with Kubernetes
	advertised := "$(POD_IP)"
	if cfg.Machine().Kubelet().SkipNodeRegistration() {
		advertised = ""
	}

	r := k8s.NewAPIServerConfig()
	*r.TypedSpec() = k8s.APIServerConfigSpec{
		Image:                    api.Image(),
		CloudProvider:            cloudProvider(cfg),
		ControlPlaneEndpoint:     cfg.Cluster().Endpoint().String(),
		EtcdServers:              []string{"https://" + net.JoinHostPort("localhost", strconv.Itoa(constants.EtcdClientPort))},
		LocalPort:                cfg.Cluster().LocalAPIServerPort(),
		ServiceCIDRs:             cfg.Cluster().Network().ServiceCIDRs(),
		ExtraArgs:                api.ExtraArgs(),
		ExtraVolumes:             extraVolumes(api.ExtraVolumes()),
		EnvironmentVariables:     api.Env(),
		PodSecurityPolicyEnabled: !api.DisablePodSecurityPolicy(),
		AdvertisedAddress:        advertised,
		Resources:                podResources(api.Resources()),
	}

	return r
}

func controllerManagerConfig(cfg config.Provider) *k8s.ControllerManagerConfig {
	cm := cfg.Cluster().ControllerManager()

	r := k8s.NewControllerManagerConfig()
	*r.TypedSpec() = k8s.ControllerManagerConfigSpec{
		Enabled:              !cfg.Machine().Controlplane().ControllerManager().Disabled(),
		Image:                cm.Image(),
		CloudProvider:        cloudProvider(cfg),
		PodCIDRs:             cfg.Cluster().Network().PodCIDRs(),
		ServiceCIDRs:         cfg.Cluster().Network().ServiceCIDRs(),
		ExtraArgs:            cm.ExtraArgs(),
		ExtraVolumes:         extraVolumes(cm.ExtraVolumes()),
		EnvironmentVariables: cm.Env(),
		Resources:            podResources(cm.Resources()),
	}

	return r
}

func schedulerConfig(cfg config.Provider) *k8s.SchedulerConfig {
	s := cfg.Cluster().Scheduler()

	r := k8s.NewSchedulerConfig()
	*r.TypedSpec() = k8s.SchedulerConfigSpec{
		Enabled:              !cfg.Machine().Controlplane().Scheduler().Disabled(),
		Image:                s.Image(),
		ExtraArgs:            s.ExtraArgs(),
		ExtraVolumes:         extraVolumes(s.ExtraVolumes()),
		EnvironmentVariables: s.Env(),
		Resources:            podResources(s.Resources()),
		Config:               s.Config(),
	}

	return r
}

// extraVolumes: control_plane.go convertVolumes (:422-431), nil for none as xslices.Map gives.
func extraVolumes(volumes []configtypes.VolumeMount) []k8s.ExtraVolume {
	if len(volumes) == 0 {
		return nil
	}

	out := make([]k8s.ExtraVolume, 0, len(volumes))

	for _, v := range volumes {
		out = append(out, k8s.ExtraVolume{Name: v.Name(), HostPath: v.HostPath(), MountPath: v.MountPath(), ReadOnly: v.ReadOnly()})
	}

	return out
}

// podResources: control_plane.go convertResources (:433-458): requests always name cpu and memory (empty when not
// set), limits only those that are set.
func podResources(res configtypes.Resources) k8s.Resources {
	var limits map[string]string

	if cpu, memory := res.CPULimits(), res.MemoryLimits(); cpu != "" || memory != "" {
		limits = map[string]string{}

		if cpu != "" {
			limits["cpu"] = cpu
		}

		if memory != "" {
			limits["memory"] = memory
		}
	}

	return k8s.Resources{
		Requests: map[string]string{"cpu": res.CPURequests(), "memory": res.MemoryRequests()},
		Limits:   limits,
	}
}
