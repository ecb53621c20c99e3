package main

import (
	"context"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
)

// A control plane's APIServerConfig carries the config's image, endpoint, extraArgs and Talos's local etcd; a worker
// has none of the three resources.
func TestControlPlaneConfigsFromTheMachineConfig(t *testing.T) {
	cfg := controlPlaneConfig(t, map[string]string{"audit-log-maxage": "7"})

	rs, err := controlPlaneConfigs(cfg, k8s.APIServerConfigType)
	if err != nil || len(rs) != 1 {
		t.Fatalf("got %v, %v", rs, err)
	}

	api := rs[0].(*k8s.APIServerConfig)
	spec := api.TypedSpec()

	if spec.Image != "registry.k8s.io/kube-apiserver:v1.33.1" || spec.ControlPlaneEndpoint != "https://127.0.131.10:6443" ||
		len(spec.EtcdServers) != 1 || spec.EtcdServers[0] != "https://localhost:2379" ||
		spec.ExtraArgs["audit-log-maxage"] != "7" || spec.AdvertisedAddress != "$(POD_IP)" || spec.LocalPort != 6443 {
		t.Fatalf("spec %+v", spec)
	}

	if api.Metadata().ID() != k8s.APIServerConfigID || api.Metadata().Namespace() != k8s.ControlPlaneNamespaceName ||
		api.Metadata().Owner() != "k8s.ControlPlaneAPIServerController" {
		t.Fatalf("metadata %v", api.Metadata())
	}

	if _, ok := spec.Resources.Requests["cpu"]; !ok || spec.Resources.Limits != nil {
		t.Fatalf("resources %+v", spec.Resources)
	}

	worker := generatedConfig(t, machine.TypeWorker)

	for _, typ := range []string{k8s.APIServerConfigType, k8s.ControllerManagerConfigType, k8s.SchedulerConfigType} {
		if rs, err := controlPlaneConfigs(worker, typ); err != nil || len(rs) != 0 {
			t.Fatalf("worker %s: %v, %v", typ, rs, err)
		}
	}
}

// The version talosctl upgrade-k8s waits on goes up when the config changes the spec, and only then.
func TestControlPlaneConfigVersionFollowsTheConfig(t *testing.T) {
	ctx := context.Background()

	st, err := newMachineState(ctx)
	if err != nil {
		t.Fatal(err)
	}

	rs := &refreshingState{CoreState: st, st: st}

	versions := []string{}

	for _, image := range []string{"registry.k8s.io/kube-scheduler:v1.33.1", "registry.k8s.io/kube-scheduler:v1.33.1", "registry.k8s.io/kube-scheduler:v1.33.2"} {
		cfg := controlPlaneConfig(t, nil)
		cfg.RawV1Alpha1().ClusterConfig.SchedulerConfig.ContainerImage = image

		made, err := controlPlaneConfigs(cfg, k8s.SchedulerConfigType)
		if err != nil {
			t.Fatal(err)
		}

		if err := rs.put(ctx, made[0]); err != nil {
			t.Fatal(err)
		}

		got, err := st.Get(ctx, k8s.NewSchedulerConfig().Metadata())
		if err != nil {
			t.Fatal(err)
		}

		versions = append(versions, got.Metadata().Version().String())

		if got.(*k8s.SchedulerConfig).TypedSpec().Image != image || !got.(*k8s.SchedulerConfig).TypedSpec().Enabled {
			t.Fatalf("spec %+v", got.(*k8s.SchedulerConfig).TypedSpec())
		}
	}

	if versions[0] != versions[1] || versions[1] == versions[2] {
		t.Fatalf("versions %v: the same spec must keep its version, a new image must change it", versions)
	}
}
