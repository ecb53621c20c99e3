// `talos-api render-bootstrap-manifests`: the manifests Talos v1.10.3's ManifestController renders on a control
// plane (internal/app/machined/pkg/controllers/k8s/manifest.go render :160-261), from the BootstrapManifestsConfig
// its ControlPlaneBootstrapManifestsController computes from the machine config (control_plane.go :279-352, the
// kube-proxy flags getProxyArgs :460-489). The templates in templates/ are Talos's, copied verbatim from
// internal/app/machined/pkg/controllers/k8s/templates/ at v1.10.3 (the internal package cannot be imported); the
// flannel template is Talos's pkg/flannel. Each manifest is written as <id>.yaml, the ids Talos gives them; the
// ManifestApplyController applies them in id order (manifest_apply.go).
package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/blang/semver/v4"
	"github.com/siderolabs/talos/pkg/argsbuilder"
	"github.com/siderolabs/talos/pkg/flannel"
	"github.com/siderolabs/talos/pkg/images"
	"github.com/siderolabs/talos/pkg/kubernetes"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"github.com/siderolabs/talos/pkg/machinery/resources/secrets"
)

//go:embed templates/kubelet-bootstrapping-token-template.yaml
var kubeletBootstrappingToken string

//go:embed templates/csr-node-bootstrap-template.yaml
var csrNodeBootstrapTemplate string

//go:embed templates/csr-approver-role-binding-template.yaml
var csrApproverRoleBindingTemplate string

//go:embed templates/csr-renewal-role-binding-template.yaml
var csrRenewalRoleBindingTemplate string

//go:embed templates/kube-config-in-cluster-template.yaml
var kubeConfigInClusterTemplate string

//go:embed templates/core-dns-template.yaml
var coreDNSTemplate string

//go:embed templates/core-dns-svc-template.yaml
var coreDNSSvcTemplate string

//go:embed templates/kube-proxy-template.yaml
var kubeProxyTemplate string

//go:embed templates/pod-security-policy-template.yaml
var podSecurityPolicy string

//go:embed templates/talos-api-service-template.yaml
var talosAPIService string

//go:embed templates/talos-service-account-crd-template.yaml
var talosServiceAccountCRDTemplate string

func init() {
	subcommands["render-bootstrap-manifests"] = renderBootstrapManifests
}

func renderBootstrapManifests(argv []string) error {
	fs := flag.NewFlagSet("render-bootstrap-manifests", flag.ContinueOnError)
	configFile := fs.String("config", "", "a control plane's machine config")
	out := fs.String("out", "", "output directory")

	if err := fs.Parse(argv); err != nil {
		return err
	}

	if *configFile == "" || *out == "" {
		return errors.New("--config and --out are required")
	}

	cfg, err := loadConfig(*configFile)
	if err != nil {
		return err
	}

	if cfg.Machine() == nil || cfg.Cluster() == nil || !cfg.Machine().Type().IsControlPlane() {
		return errors.New("not a control-plane machine config")
	}

	spec, err := bootstrapManifestsConfig(cfg)
	if err != nil {
		return err
	}

	manifests, err := renderManifests(spec, rootSecrets(cfg))
	if err != nil {
		return err
	}

	if err = os.MkdirAll(*out, 0o700); err != nil {
		return err
	}

	for _, m := range manifests {
		if err = os.WriteFile(filepath.Join(*out, m.name+".yaml"), m.data, 0o600); err != nil {
			return err
		}
	}

	return nil
}

// rootSecrets holds what the templates read of KubernetesRootSpec: the bootstrap token (secrets/kubernetes.go
// KubernetesRootController: cluster.token split at the dot).
func rootSecrets(cfg config.Provider) *secrets.KubernetesRootSpec {
	id, secret, _ := strings.Cut(cfg.Cluster().Token().ID()+"."+cfg.Cluster().Token().Secret(), ".")

	return &secrets.KubernetesRootSpec{BootstrapTokenID: id, BootstrapTokenSecret: secret}
}

// bootstrapManifestsConfig is ControlPlaneBootstrapManifestsController's TransformFunc (control_plane.go :286-352).
func bootstrapManifestsConfig(cfg config.Provider) (k8s.BootstrapManifestsConfigSpec, error) {
	dnsServiceIPs, err := cfg.Cluster().Network().DNSServiceIPs()
	if err != nil {
		return k8s.BootstrapManifestsConfigSpec{}, fmt.Errorf("error calculating DNS service IPs: %w", err)
	}

	dnsServiceIP, dnsServiceIPv6 := "", ""

	for _, ip := range dnsServiceIPs {
		if dnsServiceIP == "" && ip.Is4() {
			dnsServiceIP = ip.String()
		}

		if dnsServiceIPv6 == "" && ip.Is6() {
			dnsServiceIPv6 = ip.String()
		}
	}

	proxyArgs, err := proxyArgs(cfg)
	if err != nil {
		return k8s.BootstrapManifestsConfigSpec{}, err
	}

	server, flannelHost, flannelPort := cfg.Cluster().Endpoint().String(), "", ""

	if cfg.Machine().Features().KubePrism().Enabled() {
		server = fmt.Sprintf("https://127.0.0.1:%d", cfg.Machine().Features().KubePrism().Port())
		flannelHost = "127.0.0.1"
		flannelPort = strconv.Itoa(cfg.Machine().Features().KubePrism().Port())
	}

	return k8s.BootstrapManifestsConfigSpec{
		Server:                   server,
		ClusterDomain:            cfg.Cluster().Network().DNSDomain(),
		PodCIDRs:                 cfg.Cluster().Network().PodCIDRs(),
		ProxyEnabled:             cfg.Cluster().Proxy().Enabled(),
		ProxyImage:               cfg.Cluster().Proxy().Image(),
		ProxyArgs:                proxyArgs,
		CoreDNSEnabled:           cfg.Cluster().CoreDNS().Enabled(),
		CoreDNSImage:             cfg.Cluster().CoreDNS().Image(),
		DNSServiceIP:             dnsServiceIP,
		DNSServiceIPv6:           dnsServiceIPv6,
		FlannelEnabled:           cfg.Cluster().Network().CNI().Name() == constants.FlannelCNI,
		FlannelImage:             images.List(cfg).Flannel,
		FlannelExtraArgs:         cfg.Cluster().Network().CNI().Flannel().ExtraArgs(),
		FlannelKubeServiceHost:   flannelHost,
		FlannelKubeServicePort:   flannelPort,
		PodSecurityPolicyEnabled: !cfg.Cluster().APIServer().DisablePodSecurityPolicy(),
		TalosAPIServiceEnabled:   cfg.Machine().Features().KubernetesTalosAPIAccess().Enabled(),
	}, nil
}

// proxyArgs is getProxyArgs (control_plane.go :460-489).
func proxyArgs(cfg config.Provider) ([]string, error) {
	mode := cfg.Cluster().Proxy().Mode()
	if mode == "" {
		mode = "iptables"
		if kubernetes.VersionGTE(cfg.Cluster().Proxy().Image(), semver.MustParse("1.31.0")) {
			mode = "nftables"
		}
	}

	builder := argsbuilder.Args{
		"cluster-cidr":           strings.Join(cfg.Cluster().Network().PodCIDRs(), ","),
		"hostname-override":      "$(NODE_NAME)",
		"kubeconfig":             "/etc/kubernetes/kubeconfig",
		"proxy-mode":             mode,
		"conntrack-max-per-core": "0",
	}

	policies := argsbuilder.MergePolicies{"kubeconfig": argsbuilder.MergeDenied}
	if err := builder.Merge(cfg.Cluster().Proxy().ExtraArgs(), argsbuilder.WithMergePolicies(policies)); err != nil {
		return nil, err
	}

	return builder.Args(), nil
}

type renderedManifest struct {
	name string
	data []byte
}

// renderManifests is ManifestController.render (manifest.go :160-261), the same manifests, ids, data and functions.
func renderManifests(cfg k8s.BootstrapManifestsConfigSpec, scrt *secrets.KubernetesRootSpec) ([]renderedManifest, error) {
	templateConfig := struct {
		k8s.BootstrapManifestsConfigSpec

		Secrets *secrets.KubernetesRootSpec

		KubernetesTalosAPIServiceName      string
		KubernetesTalosAPIServiceNamespace string

		ApidPort int

		TalosServiceAccount struct{ Group, Version, Kind, ResourceSingular, ResourcePlural, ShortName string }
	}{
		BootstrapManifestsConfigSpec:       cfg,
		Secrets:                            scrt,
		KubernetesTalosAPIServiceName:      constants.KubernetesTalosAPIServiceName,
		KubernetesTalosAPIServiceNamespace: constants.KubernetesTalosAPIServiceNamespace,
		ApidPort:                           constants.ApidPort,
	}
	templateConfig.TalosServiceAccount.Group = constants.ServiceAccountResourceGroup
	templateConfig.TalosServiceAccount.Version = constants.ServiceAccountResourceVersion
	templateConfig.TalosServiceAccount.Kind = constants.ServiceAccountResourceKind
	templateConfig.TalosServiceAccount.ResourceSingular = constants.ServiceAccountResourceSingular
	templateConfig.TalosServiceAccount.ResourcePlural = constants.ServiceAccountResourcePlural
	templateConfig.TalosServiceAccount.ShortName = constants.ServiceAccountResourceShortName

	type desc struct{ name, template string }

	list := []desc{
		{"00-kubelet-bootstrapping-token", kubeletBootstrappingToken},
		{"01-csr-node-bootstrap", csrNodeBootstrapTemplate},
		{"01-csr-approver-role-binding", csrApproverRoleBindingTemplate},
		{"01-csr-renewal-role-binding", csrRenewalRoleBindingTemplate},
		{"11-kube-config-in-cluster", kubeConfigInClusterTemplate},
	}

	if cfg.CoreDNSEnabled {
		list = append(list, desc{"11-core-dns", coreDNSTemplate}, desc{"11-core-dns-svc", coreDNSSvcTemplate})
	}

	if cfg.FlannelEnabled {
		list = append(list, desc{"05-flannel", string(flannel.Template)})
	}

	if cfg.ProxyEnabled {
		list = append(list, desc{"10-kube-proxy", kubeProxyTemplate})
	}

	if cfg.PodSecurityPolicyEnabled {
		list = append(list, desc{"03-default-pod-security-policy", podSecurityPolicy})
	}

	if cfg.TalosAPIServiceEnabled {
		list = append(list, desc{"12-talos-api-service", talosAPIService}, desc{"13-talos-service-account-crd", talosServiceAccountCRDTemplate})
	}

	jsonify := func(s string) (string, error) {
		b, err := json.Marshal(s)

		return string(b), err
	}

	out := make([]renderedManifest, 0, len(list))

	for _, d := range list {
		tmpl, err := template.New(d.name).
			Funcs(template.FuncMap{"json": jsonify, "join": strings.Join, "contains": strings.Contains}).
			Parse(d.template)
		if err != nil {
			return nil, fmt.Errorf("error parsing manifest template %q: %w", d.name, err)
		}

		var buf bytes.Buffer
		if err = tmpl.Execute(&buf, &templateConfig); err != nil {
			return nil, fmt.Errorf("error executing template %q: %w", d.name, err)
		}

		out = append(out, renderedManifest{name: d.name, data: buf.Bytes()})
	}

	return out, nil
}
