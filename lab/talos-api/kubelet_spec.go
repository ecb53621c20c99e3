package main

// The KubeletSpec a configured machine serves (`talosctl get kubeletspecs`), as Talos v1.10.3's KubeletSpecController
// makes it (internal/app/machined/pkg/controllers/k8s/kubelet_spec.go Run :98-232) from the KubeletConfig that
// KubeletConfigController takes from machine.kubelet (kubelet_config.go :50-82), the node's name and its node IP:
// the image, the args (--config, --cert-dir, --hostname-override, the bootstrap kubeconfig and kubeconfig unless
// node registration is skipped, --cloud-provider, --node-ip, extraArgs merged under the same policies, the
// credential provider flags), the extra mounts and the expected node name. `talosctl upgrade-k8s` reads its image
// (pkg/cluster/kubernetes/talos_managed.go prePullImages, kubelet.go upgradeKubeletOnNode).
// Lab deviations: spec.config, the KubeletConfiguration Talos generates (NewKubeletConfiguration in Talos's internal
// controllers package, which cannot be imported), is left empty: the lab's kubelet reads machine.kubelet itself; the
// node name is machine.network.hostname or the machine's lab name (lab/node-shape.ts hostnameOf), and the node IP its
// one address (Talos picks from the node's addresses, filtered by machine.kubelet.nodeIP.validSubnets).

import (
	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/siderolabs/go-kubernetes/kubernetes/compatibility"
	"github.com/siderolabs/talos/pkg/argsbuilder"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
)

// kubeletSpecs: the machine's KubeletSpec, none without a machine and cluster config.
func kubeletSpecs(n Node, cfg config.Provider) ([]resource.Resource, error) {
	if cfg.Machine() == nil || cfg.Cluster() == nil {
		return nil, nil
	}

	kubelet := cfg.Machine().Kubelet()

	nodename := n.Name
	if h := cfg.Machine().Network().Hostname(); h != "" {
		nodename = h
	}

	args := argsbuilder.Args{
		"config":            "/etc/kubernetes/kubelet.yaml",
		"cert-dir":          constants.KubeletPKIDir,
		"hostname-override": nodename,
	}

	if !kubelet.SkipNodeRegistration() {
		args["bootstrap-kubeconfig"] = constants.KubeletBootstrapKubeconfig
		args["kubeconfig"] = constants.KubeletKubeconfig
	}

	if cfg.Cluster().ExternalCloudProvider().Enabled() {
		args["cloud-provider"] = cloudProviderExternal
	}

	if !compatibility.VersionFromImageRef(kubelet.Image()).SupportsKubeletConfigContainerRuntimeEndpoint() {
		args["container-runtime-endpoint"] = constants.CRIContainerdAddress
	}

	extraArgs := argsbuilder.Args(kubelet.ExtraArgs())

	// a user-supplied hostname override is no longer Talos's to manage
	expectedNodename := nodename
	if extraArgs.Contains("hostname-override") {
		expectedNodename = ""
	}

	if !extraArgs.Contains("node-ip") {
		args["node-ip"] = n.Address
	}

	if err := args.Merge(extraArgs, argsbuilder.WithMergePolicies(argsbuilder.MergePolicies{
		"bootstrap-kubeconfig":       argsbuilder.MergeDenied,
		"kubeconfig":                 argsbuilder.MergeDenied,
		"container-runtime":          argsbuilder.MergeDenied,
		"container-runtime-endpoint": argsbuilder.MergeDenied,
		"config":                     argsbuilder.MergeDenied,
		"cert-dir":                   argsbuilder.MergeDenied,
	})); err != nil {
		return nil, err
	}

	if kubelet.CredentialProviderConfig() != nil {
		args["image-credential-provider-bin-dir"] = constants.KubeletCredentialProviderBinDir
		args["image-credential-provider-config"] = constants.KubeletCredentialProviderConfig
	}

	r := k8s.NewKubeletSpec(k8s.NamespaceName, k8s.KubeletID)
	*r.TypedSpec() = k8s.KubeletSpecSpec{
		Image:                    kubelet.Image(),
		Args:                     args.Args(),
		ExtraMounts:              kubelet.ExtraMounts(),
		ExpectedNodename:         expectedNodename,
		CredentialProviderConfig: kubelet.CredentialProviderConfig(),
	}

	if err := r.Metadata().SetOwner("k8s.KubeletSpecController"); err != nil {
		return nil, err
	}

	return []resource.Resource{r}, nil
}
