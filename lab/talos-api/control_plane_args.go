// The kube-apiserver's command line as Talos v1.10.3 renders it for a control-plane node (issue #23): the machine
// config is read through Talos's own config types and the flags are merged with Talos's own argsbuilder, so the
// real kube-apiserver the lab runs gets what a real node's static pod would get.
package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/siderolabs/go-kubernetes/kubernetes/compatibility"
	"github.com/siderolabs/talos/pkg/argsbuilder"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/constants"
)

// talosEtcdServers is what ControlPlaneAPIServerController (controllers/k8s/control_plane.go,
// NewControlPlaneAPIServerController) always sets: the node's own etcd on localhost.
var talosEtcdServers = fmt.Sprintf("https://localhost:%d", constants.EtcdClientPort)

// apiServerTLSCipherSuites is the list manageAPIServer (controllers/k8s/control_plane_static_pod.go) sets.
const apiServerTLSCipherSuites = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256," +
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384," +
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384," +
	"TLS_RSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_128_GCM_SHA256"

// apiServerMergePolicies: extraArgs may add to these lists and may never set the denied ones
// (manageAPIServer, mergePolicies).
var apiServerMergePolicies = argsbuilder.MergePolicies{
	"enable-admission-plugins": argsbuilder.MergeAdditive,
	"feature-gates":            argsbuilder.MergeAdditive,
	"authorization-mode":       argsbuilder.MergeAdditive,
	"tls-cipher-suites":        argsbuilder.MergeAdditive,
}

func init() {
	for _, denied := range []string{
		"etcd-servers", "client-ca-file", "requestheader-client-ca-file", "proxy-client-cert-file",
		"proxy-client-key-file", "encryption-provider-config", "etcd-cafile", "etcd-certfile", "etcd-keyfile",
		"kubelet-client-certificate", "kubelet-client-key", "service-account-key-file",
		"service-account-signing-key-file", "tls-cert-file", "tls-private-key-file", "authorization-config",
	} {
		apiServerMergePolicies[denied] = argsbuilder.MergeDenied
	}
}

// apiServerArgs returns kube-apiserver's flags (without the binary) for cfg, with Talos's directories
// (constants.KubernetesAPIServerSecretsDir, KubernetesAPIServerConfigDir, KubernetesAuditLogDir) mapped to
// secrets, conf and audit. podIP stands for $(POD_IP): the static pod runs on the host network, so kubelet expands it
// to the node's address.
func apiServerArgs(cfg config.Provider, secrets, conf, audit, podIP string) ([]string, error) {
	api := cfg.Cluster().APIServer()
	secret := func(name string) string { return filepath.Join(secrets, name) }
	endpoint := cfg.Cluster().Endpoint().String()

	admission := []string{"NodeRestriction"}
	if !api.DisablePodSecurityPolicy() {
		admission = append(admission, "PodSecurityPolicy")
	}

	b := argsbuilder.Args{
		"admission-control-config-file":      filepath.Join(conf, "admission-control-config.yaml"),
		"allow-privileged":                   "true",
		"anonymous-auth":                     "false",
		"api-audiences":                      endpoint,
		"bind-address":                       "0.0.0.0",
		"client-ca-file":                     secret("ca.crt"),
		"enable-admission-plugins":           strings.Join(admission, ","),
		"requestheader-client-ca-file":       secret("aggregator-ca.crt"),
		"requestheader-allowed-names":        "front-proxy-client",
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-username-headers":     "X-Remote-User",
		"proxy-client-cert-file":             secret("front-proxy-client.crt"),
		"proxy-client-key-file":              secret("front-proxy-client.key"),
		"enable-bootstrap-token-auth":        "true",
		"tls-min-version":                    "VersionTLS12",
		"tls-cipher-suites":                  apiServerTLSCipherSuites,
		"encryption-provider-config":         secret("encryptionconfig.yaml"),
		"audit-policy-file":                  filepath.Join(conf, "auditpolicy.yaml"),
		"audit-log-path":                     filepath.Join(audit, "kube-apiserver.log"),
		"audit-log-maxage":                   "30",
		"audit-log-maxbackup":                "10",
		"audit-log-maxsize":                  "100",
		"profiling":                          "false",
		"etcd-cafile":                        secret("etcd-client-ca.crt"),
		"etcd-certfile":                      secret("etcd-client.crt"),
		"etcd-keyfile":                       secret("etcd-client.key"),
		"etcd-servers":                       talosEtcdServers,
		"kubelet-client-certificate":         secret("apiserver-kubelet-client.crt"),
		"kubelet-client-key":                 secret("apiserver-kubelet-client.key"),
		"secure-port":                        strconv.Itoa(cfg.Cluster().LocalAPIServerPort()),
		"service-account-issuer":             endpoint,
		"service-account-key-file":           secret("service-account.pub"),
		"service-account-signing-key-file":   secret("service-account.key"),
		"service-cluster-ip-range":           strings.Join(cfg.Cluster().Network().ServiceCIDRs(), ","),
		"tls-cert-file":                      secret("apiserver.crt"),
		"tls-private-key-file":               secret("apiserver.key"),
		"kubelet-preferred-address-types":    "InternalIP,ExternalIP,Hostname",
	}

	// advertise-address is "$(POD_IP)" unless the node skips registration (control_plane.go).
	if !cfg.Machine().Kubelet().SkipNodeRegistration() {
		b.Set("advertise-address", podIP)
	}

	version := compatibility.VersionFromImageRef(api.Image())

	if cfg.Cluster().ExternalCloudProvider().Enabled() && !version.CloudProviderFlagRemoved() {
		b.Set("cloud-provider", "external")
	}

	setAuthorizationFlags(b, version, api.ExtraArgs(), conf)

	if err := b.Merge(api.ExtraArgs(), argsbuilder.WithMergePolicies(apiServerMergePolicies)); err != nil {
		return nil, err
	}

	return b.Args(), nil
}

// setAuthorizationFlags follows handleKubeAPIServerAuthorizationFlags (control_plane_static_pod.go): the old
// authorization-mode flag when extraArgs use it or webhook flags or the version predates the config file, else
// authorization-config (authorization-config.yaml, see controlPlaneFiles).
func setAuthorizationFlags(b argsbuilder.Args, version compatibility.Version, extra map[string]string, conf string) {
	_, hasMode := extra["authorization-mode"]
	hasWebhook := slices.ContainsFunc(mapKeys(extra), func(k string) bool {
		return strings.HasPrefix(k, "authorization-webhook-")
	})

	if hasMode || hasWebhook || !version.KubeAPIServerSupportsAuthorizationConfigFile() {
		b.Set("authorization-mode", "Node,RBAC")

		return
	}

	if !version.FeatureFlagStructuredAuthorizationConfigurationEnabledByDefault() {
		b.Set("feature-gates", "StructuredAuthorizationConfiguration=true")
	}

	b.Set("authorization-config", filepath.Join(conf, "authorization-config.yaml"))
}

func mapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}

	return keys
}

// controllerManagerArgs follows manageControllerManager (control_plane_static_pod.go) and
// NewControlPlaneControllerManagerController (control_plane.go), with constants.KubernetesControllerManagerSecretsDir
// mapped to secrets. Nil when machine.controlPlane.controllerManager.disabled.
func controllerManagerArgs(cfg config.Provider, secrets string) ([]string, error) {
	if cfg.Machine().Controlplane().ControllerManager().Disabled() {
		return nil, nil
	}

	cm := cfg.Cluster().ControllerManager()
	secret := func(name string) string { return filepath.Join(secrets, name) }

	b := argsbuilder.Args{
		"allocate-node-cidrs":              "true",
		"bind-address":                     "127.0.0.1",
		"cluster-cidr":                     strings.Join(cfg.Cluster().Network().PodCIDRs(), ","),
		"service-cluster-ip-range":         strings.Join(cfg.Cluster().Network().ServiceCIDRs(), ","),
		"cluster-signing-cert-file":        secret("ca.crt"),
		"cluster-signing-key-file":         secret("ca.key"),
		"controllers":                      "*,tokencleaner",
		"configure-cloud-routes":           "false",
		"kubeconfig":                       secret("kubeconfig"),
		"authentication-kubeconfig":        secret("kubeconfig"),
		"authorization-kubeconfig":         secret("kubeconfig"),
		"leader-elect":                     "true",
		"root-ca-file":                     secret("ca.crt"),
		"service-account-private-key-file": secret("service-account.key"),
		"profiling":                        "false",
		"tls-min-version":                  "VersionTLS13",
	}

	version := compatibility.VersionFromImageRef(cm.Image())
	if cfg.Cluster().ExternalCloudProvider().Enabled() && !version.CloudProviderFlagRemoved() {
		b.Set("cloud-provider", "external")
	}

	policies := argsbuilder.MergePolicies{
		"service-cluster-ip-range": argsbuilder.MergeAdditive,
		"controllers":              argsbuilder.MergeAdditive,
	}
	for _, denied := range []string{
		"cluster-signing-cert-file", "cluster-signing-key-file", "authentication-kubeconfig",
		"authorization-kubeconfig", "root-ca-file", "service-account-private-key-file",
	} {
		policies[denied] = argsbuilder.MergeDenied
	}

	if err := b.Merge(cm.ExtraArgs(), argsbuilder.WithMergePolicies(policies)); err != nil {
		return nil, err
	}

	// the flag without a value comes first in Talos's args
	return append([]string{"--use-service-account-credentials"}, b.Args()...), nil
}

// schedulerArgs follows manageScheduler (control_plane_static_pod.go), with KubernetesSchedulerConfigDir and
// KubernetesSchedulerSecretsDir both mapped to dir. Nil when machine.controlPlane.scheduler.disabled.
func schedulerArgs(cfg config.Provider, dir string) ([]string, error) {
	if cfg.Machine().Controlplane().Scheduler().Disabled() {
		return nil, nil
	}

	b := argsbuilder.Args{
		"config":                                 filepath.Join(dir, "scheduler-config.yaml"),
		"authentication-tolerate-lookup-failure": "false",
		"authentication-kubeconfig":              filepath.Join(dir, "kubeconfig"),
		"authorization-kubeconfig":               filepath.Join(dir, "kubeconfig"),
		"bind-address":                           "127.0.0.1",
		"leader-elect":                           "true",
		"profiling":                              "false",
		"tls-min-version":                        "VersionTLS13",
	}

	policies := argsbuilder.MergePolicies{}
	for _, denied := range []string{"kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig", "config"} {
		policies[denied] = argsbuilder.MergeDenied
	}

	if err := b.Merge(cfg.Cluster().Scheduler().ExtraArgs(), argsbuilder.WithMergePolicies(policies)); err != nil {
		return nil, err
	}

	return b.Args(), nil
}
