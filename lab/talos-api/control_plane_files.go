// The files Talos v1.10.3 writes for a control-plane node's kube-apiserver (issue #23): its secrets directory
// (controllers/k8s/render_secrets_static_pod.go), its config directory (render_config_static_pods.go) and the
// certificates behind them (controllers/secrets/kubernetes_dynamic_certs.go, kubernetes_cert_sans.go, etcd.go and
// internal/pkg/etcd/certs.go). Written from the machine config through Talos's config types and
// github.com/siderolabs/crypto/x509, as machined does.
package main

import (
	"bytes"
	stdx509 "crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/go-kubernetes/kubernetes/compatibility"
	"github.com/siderolabs/talos/pkg/kubeconfig"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	"sigs.k8s.io/yaml"
)

// node is what machined knows of itself beyond the config: its addresses and hostname.
type node struct {
	ip       netip.Addr
	hostname string
	// outgoing is where the machine's connections come from when that is not ip: on the lab's shared host, every
	// machine's connections to another's loopback address leave from 127.0.0.1.
	outgoing netip.Addr
}

// kubernetesCertValidity is secrets.KubernetesCertificateValidityDuration (controllers/secrets/kubernetes.go).
const kubernetesCertValidity = 365 * 24 * time.Hour

func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	for name, data := range files {
		// 0o400 as Talos writes them (render_secrets_static_pod.go); the lab runs as one user, so no chown. A file of
		// an earlier render is replaced, not rewritten: its owner could not write it.
		file := filepath.Join(dir, name)
		if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
			return err
		}

		if err := os.WriteFile(file, data, 0o400); err != nil {
			return err
		}
	}

	return nil
}

// apiServerSecrets is the kube-apiserver entry of RenderSecretsStaticPodController.
func apiServerSecrets(cfg config.Provider, n node) (map[string][]byte, error) {
	c := cfg.Cluster()

	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(c.IssuingCA())
	if err != nil {
		return nil, fmt.Errorf("cluster.ca: %w", err)
	}

	aggregator, err := x509.NewCertificateAuthorityFromCertificateAndKey(c.AggregatorCA())
	if err != nil {
		return nil, fmt.Errorf("cluster.aggregatorCA: %w", err)
	}

	saKey, err := c.ServiceAccount().GetKey()
	if err != nil {
		return nil, fmt.Errorf("cluster.serviceAccount: %w", err)
	}

	sans, err := apiServerSANs(cfg, n)
	if err != nil {
		return nil, err
	}

	// KubernetesDynamicCertsController.updateSecrets: the serving cert, the kubelet client and the front proxy.
	apiServer, err := x509.NewKeyPair(ca, slices.Concat(sans, leaf(stdx509.ExtKeyUsageServerAuth),
		[]x509.Option{x509.CommonName("kube-apiserver"), x509.Organization("kube-master")})...)
	if err != nil {
		return nil, err
	}

	kubeletClient, err := x509.NewKeyPair(ca, append(leaf(stdx509.ExtKeyUsageClientAuth),
		x509.CommonName(constants.KubernetesAPIServerKubeletClientCommonName),
		x509.Organization(constants.KubernetesAdminCertOrganization))...)
	if err != nil {
		return nil, err
	}

	frontProxy, err := x509.NewKeyPair(aggregator, append(leaf(stdx509.ExtKeyUsageClientAuth),
		x509.CommonName("front-proxy-client"))...)
	if err != nil {
		return nil, err
	}

	etcdClient, err := etcdCert(cfg, n, "client", "kube-apiserver")
	if err != nil {
		return nil, err
	}

	// ca.crt is every accepted CA, the issuing one last (controllers/secrets/root.go, KubernetesRoot).
	var accepted []byte
	for _, a := range c.AcceptedCAs() {
		accepted = append(accepted, a.Crt...)
	}

	return map[string][]byte{
		"etcd-client-ca.crt":           c.Etcd().CA().Crt,
		"etcd-client.crt":              etcdClient.Crt,
		"etcd-client.key":              etcdClient.Key,
		"ca.crt":                       append(accepted, c.IssuingCA().Crt...),
		"apiserver.crt":                apiServer.CrtPEM,
		"apiserver.key":                apiServer.KeyPEM,
		"apiserver-kubelet-client.crt": kubeletClient.CrtPEM,
		"apiserver-kubelet-client.key": kubeletClient.KeyPEM,
		"service-account.pub":          saKey.GetPublicKeyPEM(),
		"service-account.key":          saKey.GetPrivateKeyPEM(),
		"aggregator-ca.crt":            c.AggregatorCA().Crt,
		"front-proxy-client.crt":       frontProxy.CrtPEM,
		"front-proxy-client.key":       frontProxy.KeyPEM,
		"encryptionconfig.yaml":        []byte(encryptionConfig(cfg)),
	}, nil
}

// leaf is what every certificate of KubernetesDynamicCertsController shares: a year's validity, signature and key
// encipherment, one extended usage.
func leaf(eku stdx509.ExtKeyUsage) []x509.Option {
	return []x509.Option{
		x509.NotAfter(time.Now().Add(kubernetesCertValidity)),
		x509.KeyUsage(stdx509.KeyUsageDigitalSignature | stdx509.KeyUsageKeyEncipherment),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{eku}),
	}
}

// apiServerSANs is KubernetesCertSANsController: the endpoint's host, cluster.apiServer.certSANs, the in-cluster
// names, the hostname, the service IPs, the node's addresses and 127.0.0.1.
func apiServerSANs(cfg config.Provider, n node) ([]x509.Option, error) {
	c := cfg.Cluster()

	names := []string{c.Endpoint().Hostname()}
	names = append(names, c.CertSANs()...)
	names = append(names, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc."+c.Network().DNSDomain(), "localhost", n.hostname)

	serviceIPs, err := c.Network().APIServerIPs()
	if err != nil {
		return nil, err
	}

	ips := append(serviceIPs, n.ip, netip.MustParseAddr("127.0.0.1"))

	var dns []string
	for _, name := range names {
		if a, err := netip.ParseAddr(name); err == nil {
			ips = append(ips, a)
		} else if name != "" {
			dns = append(dns, name)
		}
	}

	return []x509.Option{x509.DNSNames(sortedUnique(dns)), x509.IPAddresses(stdIPs(ips))}, nil
}

func sortedUnique(s []string) []string {
	slices.Sort(s)

	return slices.Compact(s)
}

func stdIPs(addrs []netip.Addr) []net.IP {
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })

	var out []net.IP
	for _, a := range slices.Compact(addrs) {
		out = append(out, a.AsSlice())
	}

	return out
}

// etcdCert issues from cluster.etcd.ca as internal/pkg/etcd/certs.go's CertificateGenerator: a server cert (the
// node's addresses, 127.0.0.1, its hostname and localhost), a peer cert (addresses and hostname only) or a client
// cert (the given CN, no SANs). The key usage is the same for all; server and peer certs serve and authenticate.
func etcdCert(cfg config.Provider, n node, kind, clientCN string) (*x509.PEMEncodedCertificateAndKey, error) {
	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(cfg.Cluster().Etcd().CA())
	if err != nil {
		return nil, fmt.Errorf("cluster.etcd.ca: %w", err)
	}

	opts := []x509.Option{
		x509.NotAfter(time.Now().Add(87600 * time.Hour)),
		x509.KeyUsage(stdx509.KeyUsageDigitalSignature | stdx509.KeyUsageKeyEncipherment),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth, stdx509.ExtKeyUsageClientAuth}),
	}

	switch kind {
	case "server":
		opts = append(opts, x509.CommonName(n.hostname), x509.DNSNames([]string{n.hostname, "localhost"}),
			x509.IPAddresses(stdIPs([]netip.Addr{n.ip, netip.MustParseAddr("127.0.0.1")})))
	case "peer":
		// etcd checks a peer's certificate against the address it connects from (client/pkg/v3/transport/
		// listener_tls.go:97 checkSAN, under --peer-client-cert-auth): in the lab that is n.outgoing, named too
		ips := []netip.Addr{n.ip}
		if n.outgoing.IsValid() {
			ips = append(ips, n.outgoing)
		}

		opts = append(opts, x509.CommonName(n.hostname), x509.DNSNames([]string{n.hostname}),
			x509.IPAddresses(stdIPs(ips)))
	default:
		opts = append(opts, x509.CommonName(clientCN), x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}))
	}

	pair, err := x509.NewKeyPair(ca, opts...)
	if err != nil {
		return nil, err
	}

	return x509.NewCertificateAndKeyFromKeyPair(pair), nil
}

// etcdFiles are the node's etcd certificates (controllers/secrets/etcd.go, EtcdController.updateSecrets:183-198)
// under the names of constants.EtcdCert, EtcdPeerCert, EtcdAdminCert and EtcdCACert (/system/secrets/etcd): server,
// peer, and the client certificate "talos" that machined's own etcd clients present (internal/pkg/etcd/etcd.go:43-47).
func etcdFiles(cfg config.Provider, n node) (map[string][]byte, error) {
	if cfg.Cluster().Etcd().CA() == nil {
		// RootEtcdController (controllers/secrets/root.go:59-60): no etcd secrets, so etcd never starts
		return nil, errors.New("missing cluster.etcdCA secret")
	}

	files := map[string][]byte{"ca.crt": cfg.Cluster().Etcd().CA().Crt}

	for _, kind := range []string{"server", "peer", "admin"} {
		pair, err := etcdCert(cfg, n, kind, "talos")
		if err != nil {
			return nil, err
		}

		files[kind+".crt"], files[kind+".key"] = pair.Crt, pair.Key
	}

	return files, nil
}

// encryptionConfig writes the document of controllers/k8s/templates/kube-system-encryption-config-template.yaml:
// secrets encrypted with secretbox (key2) and/or aescbc (key1) from the config, identity last so old plain data
// still reads.
func encryptionConfig(cfg config.Provider) string {
	var b strings.Builder

	b.WriteString("apiVersion: v1\nkind: EncryptionConfig\nresources:\n- resources:\n  - secrets\n  providers:\n")

	if s := cfg.Cluster().SecretboxEncryptionSecret(); s != "" {
		fmt.Fprintf(&b, "  - secretbox:\n      keys:\n      - name: key2\n        secret: %s\n", s)
	}

	if s := cfg.Cluster().AESCBCEncryptionSecret(); s != "" {
		fmt.Fprintf(&b, "  - aescbc:\n      keys:\n      - name: key1\n        secret: %s\n", s)
	}

	b.WriteString("  - identity: {}\n")

	return b.String()
}

// apiServerConfigs is the kube-apiserver entry of RenderConfigsStaticPodController: admission control, the audit
// policy and the authorization config, each a Kubernetes object in YAML.
func apiServerConfigs(cfg config.Provider) (map[string][]byte, error) {
	api := cfg.Cluster().APIServer()

	plugins := []map[string]any{}
	for _, p := range api.AdmissionControl() {
		plugins = append(plugins, map[string]any{"name": p.Name(), "configuration": p.Configuration()})
	}

	docs := map[string]any{
		"admission-control-config.yaml": map[string]any{
			"apiVersion": "apiserver.config.k8s.io/v1",
			"kind":       "AdmissionConfiguration",
			"plugins":    plugins,
		},
		// Talos decodes the policy strictly into audit.k8s.io/v1 Policy first; here kube-apiserver's own loading
		// is the judge.
		"auditpolicy.yaml": api.AuditPolicy(),
		"authorization-config.yaml": map[string]any{
			"apiVersion":  compatibility.VersionFromImageRef(api.Image()).KubeAPIServerAuthorizationConfigAPIVersion(),
			"kind":        "AuthorizationConfiguration",
			"authorizers": authorizers(cfg),
		},
	}

	files := map[string][]byte{}

	for name, doc := range docs {
		data, err := yaml.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}

		files[name] = data
	}

	return files, nil
}

// authorizers is ControlPlaneAuthorizationController (controllers/k8s/control_plane.go): Talos's defaults (Node,
// RBAC) unless the config lists its own, to which Node goes first and RBAC second when missing.
func authorizers(cfg config.Provider) []map[string]any {
	var out []map[string]any

	for _, a := range cfg.Cluster().APIServer().AuthorizationConfig() {
		entry := map[string]any{"type": a.Type(), "name": a.Name()}
		if a.Webhook() != nil {
			entry["webhook"] = a.Webhook()
		}

		out = append(out, entry)
	}

	if out == nil {
		for _, a := range v1alpha1.APIServerDefaultAuthorizationConfigAuthorizers {
			out = append(out, map[string]any{"type": a.Type, "name": a.Name})
		}

		return out
	}

	has := func(t string) bool {
		return slices.ContainsFunc(out, func(e map[string]any) bool { return e["type"] == t })
	}

	if !has("Node") {
		out = slices.Insert(out, 0, map[string]any{"type": "Node", "name": "node"})
	}

	if !has("RBAC") {
		out = slices.Insert(out, 1, map[string]any{"type": "RBAC", "name": "rbac"})
	}

	return out
}

// localEndpoint is where Talos's control-plane components reach the API (controllers/secrets/root.go,
// KubernetesRoot LocalEndpoint): KubePrism when enabled, else localhost on the local API server port.
func localEndpoint(cfg config.Provider) string {
	if kp := cfg.Machine().Features().KubePrism(); kp.Enabled() {
		return fmt.Sprintf("https://127.0.0.1:%d", kp.Port())
	}

	return fmt.Sprintf("https://localhost:%d", cfg.Cluster().LocalAPIServerPort())
}

// controllerManagerSecrets is the kube-controller-manager entry of RenderSecretsStaticPodController: the issuing CA
// with its key (it signs CSRs), the service-account key and the kubeconfig of KubernetesCertsController
// (controllers/secrets/kubernetes.go), generated with Talos's own pkg/kubeconfig for endpoint.
func controllerManagerSecrets(cfg config.Provider, endpoint string) (map[string][]byte, error) {
	c := cfg.Cluster()

	saKey, err := c.ServiceAccount().GetKey()
	if err != nil {
		return nil, fmt.Errorf("cluster.serviceAccount: %w", err)
	}

	kc, err := componentKubeconfig(cfg, constants.KubernetesControllerManagerOrganization, endpoint)
	if err != nil {
		return nil, fmt.Errorf("controller manager kubeconfig: %w", err)
	}

	return map[string][]byte{
		"ca.crt":              c.IssuingCA().Crt,
		"ca.key":              c.IssuingCA().Key,
		"service-account.key": saKey.GetPrivateKeyPEM(),
		"kubeconfig":          kc,
	}, nil
}

// componentKubeconfig is a kubeconfig of KubernetesCertsController (controllers/secrets/kubernetes.go) for a
// control-plane component whose user and group are both org, made with Talos's own pkg/kubeconfig.
func componentKubeconfig(cfg config.Provider, org, endpoint string) ([]byte, error) {
	c := cfg.Cluster()

	var buf bytes.Buffer

	err := kubeconfig.Generate(&kubeconfig.GenerateInput{
		ClusterName:         c.Name(),
		IssuingCA:           c.IssuingCA(),
		AcceptedCAs:         slices.Concat(c.AcceptedCAs(), []*x509.PEMEncodedCertificate{{Crt: c.IssuingCA().Crt}}),
		CertificateLifetime: kubernetesCertValidity,
		CommonName:          org,
		Organization:        org,
		Endpoint:            endpoint,
		Username:            org,
		ContextName:         "default",
	}, &buf)

	return buf.Bytes(), err
}

// schedulerFiles are the scheduler's kubeconfig (RenderSecretsStaticPodController) and scheduler-config.yaml
// (RenderConfigsStaticPodController's schedulerConfig: cluster.scheduler.config with Talos's apiVersion, kind and
// clientConnection.kubeconfig). Talos round-trips the config through the typed v1 struct first; here kube-scheduler's
// own loading is the judge.
func schedulerFiles(cfg config.Provider, endpoint, dir string) (map[string][]byte, error) {
	kc, err := componentKubeconfig(cfg, constants.KubernetesSchedulerOrganization, endpoint)
	if err != nil {
		return nil, fmt.Errorf("scheduler kubeconfig: %w", err)
	}

	doc := map[string]any{}
	for k, v := range cfg.Cluster().Scheduler().Config() {
		doc[k] = v
	}

	conn, _ := doc["clientConnection"].(map[string]any)
	if conn == nil {
		conn = map[string]any{}
	}

	conn["kubeconfig"] = filepath.Join(dir, "kubeconfig")
	doc["clientConnection"] = conn
	doc["apiVersion"] = "kubescheduler.config.k8s.io/v1"
	doc["kind"] = "KubeSchedulerConfiguration"

	schedulerConfig, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}

	return map[string][]byte{"kubeconfig": kc, "scheduler-config.yaml": schedulerConfig}, nil
}
