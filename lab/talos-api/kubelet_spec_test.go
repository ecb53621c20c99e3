package main

import (
	"slices"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
)

// A worker's KubeletSpec: the config's kubelet image, Talos's own flags with the node's name and address, extraArgs
// merged; a user's hostname-override leaves the expected node name empty; a denied flag refuses the config.
func TestKubeletSpecFromTheMachineConfig(t *testing.T) {
	cfg := generatedConfig(t, machine.TypeWorker)
	cfg.RawV1Alpha1().MachineConfig.MachineKubelet.KubeletExtraArgs = map[string]string{"rotate-server-certificates": "true"}

	rs, err := kubeletSpecs(Node{Name: "worker1", Address: "127.0.10.22"}, cfg)
	if err != nil || len(rs) != 1 {
		t.Fatalf("got %v, %v", rs, err)
	}

	r := rs[0].(*k8s.KubeletSpec)
	spec := r.TypedSpec()

	if spec.Image != "ghcr.io/siderolabs/kubelet:v1.33.1" || spec.ExpectedNodename != "worker1" {
		t.Fatalf("spec %+v", spec)
	}

	for _, want := range []string{
		"--config=/etc/kubernetes/kubelet.yaml", "--cert-dir=/var/lib/kubelet/pki", "--hostname-override=worker1",
		"--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubeconfig", "--kubeconfig=/etc/kubernetes/kubeconfig-kubelet",
		"--node-ip=127.0.10.22", "--rotate-server-certificates=true",
	} {
		if !slices.Contains(spec.Args, want) {
			t.Errorf("args %v lack %s", spec.Args, want)
		}
	}

	if _, ok := flagValue(spec.Args, "container-runtime-endpoint"); ok {
		t.Errorf("kubelet v1.33 takes the runtime endpoint from its config, not a flag: %v", spec.Args)
	}

	if r.Metadata().ID() != k8s.KubeletID || r.Metadata().Namespace() != k8s.NamespaceName ||
		r.Metadata().Owner() != "k8s.KubeletSpecController" {
		t.Fatalf("metadata %v", r.Metadata())
	}

	cfg.RawV1Alpha1().MachineConfig.MachineKubelet.KubeletExtraArgs = map[string]string{"hostname-override": "w"}

	rs, err = kubeletSpecs(Node{Name: "worker1", Address: "127.0.10.22"}, cfg)
	if err != nil || rs[0].(*k8s.KubeletSpec).TypedSpec().ExpectedNodename != "" {
		t.Fatalf("hostname-override: %v, %v", rs, err)
	}

	cfg.RawV1Alpha1().MachineConfig.MachineKubelet.KubeletExtraArgs = map[string]string{"cert-dir": "/tmp"}

	if _, err = kubeletSpecs(Node{Name: "worker1", Address: "127.0.10.22"}, cfg); err == nil {
		t.Fatal("cert-dir in extraArgs must be refused, as Talos's merge policy denies it")
	}
}

// A control plane serves Talos's bootstrap manifests and its inline manifests ("99-<name>", a List unwrapped, a
// comment-only document skipped); a worker serves none.
func TestManifestResources(t *testing.T) {
	cfg := generatedConfig(t, machine.TypeControlPlane)
	cfg.RawV1Alpha1().ClusterConfig.ClusterInlineManifests = v1alpha1.ClusterInlineManifests{{
		InlineManifestName: "extra",
		InlineManifestContents: "# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n" +
			"- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n",
	}}

	rs, err := manifestResources(cfg)
	if err != nil {
		t.Fatal(err)
	}

	ids := []string{}
	items := map[string][]k8s.SingleManifest{}

	for _, r := range rs {
		m := r.(*k8s.Manifest)
		ids = append(ids, m.Metadata().ID())
		items[m.Metadata().ID()] = m.TypedSpec().Items

		if m.Metadata().Namespace() != k8s.ControlPlaneNamespaceName {
			t.Fatalf("namespace %s", m.Metadata().Namespace())
		}
	}

	for _, want := range []string{"00-kubelet-bootstrapping-token", "05-flannel", "10-kube-proxy", "11-core-dns", "99-extra"} {
		if !slices.Contains(ids, want) {
			t.Errorf("ids %v lack %s", ids, want)
		}
	}

	extra := items["99-extra"]
	if len(extra) != 2 || extra[0].Object["kind"] != "Namespace" || extra[1].Object["metadata"].(map[string]any)["name"] != "b" {
		t.Fatalf("99-extra items %v", extra)
	}

	if proxy := items["10-kube-proxy"]; len(proxy) == 0 {
		t.Fatal("10-kube-proxy has no objects")
	}

	if rs, err := manifestResources(generatedConfig(t, machine.TypeWorker)); err != nil || len(rs) != 0 {
		t.Fatalf("worker: %v, %v", rs, err)
	}
}
