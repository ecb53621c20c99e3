// `talos-api render-control-plane` and `talos-api kube-client-cert`: what a Talos v1.10.3 control-plane node would
// hand its kube-apiserver static pod, rendered from its machine config for the lab's real kube-apiserver (issue #23),
// and client certificates from the cluster CA as Talos issues them.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
)

// subcommands run instead of the server when the first argument names one.
var subcommands = map[string]func([]string) error{
	"render-control-plane": renderControlPlane,
	"render-etcd-pki":      renderEtcdPKI,
	"kube-client-cert":     kubeClientCert,
}

func loadConfig(file string) (config.Provider, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}

	return configloader.NewFromBytes(data)
}

// renderControlPlane writes, under --out: secrets/ (Talos's /system/secrets/kubernetes/kube-apiserver), config/
// (/system/config/kubernetes/kube-apiserver), audit/ (/var/log/audit/kube), etcd/ (/system/secrets/etcd, the node's
// own etcd certificates), controller-manager/ (/system/secrets/kubernetes/kube-controller-manager), scheduler/
// (/system/secrets/kubernetes/kube-scheduler and /system/config/kubernetes/kube-scheduler), and kube-apiserver.json,
// kube-controller-manager.json and kube-scheduler.json, the flags with those directories in place of Talos's.
// --kube-endpoint replaces Talos's local endpoint (KubePrism or localhost) in the components' kubeconfigs:
// the lab has no KubePrism and its API servers share the host.
func renderControlPlane(argv []string) error {
	fs := flag.NewFlagSet("render-control-plane", flag.ContinueOnError)
	endpoint := fs.String("kube-endpoint", "", "the API endpoint for the controller manager (default Talos's)")

	// controlplaneMapFunc (controllers/k8s/control_plane.go): only a control plane runs these pods
	cfg, n, out, err := controlPlaneNode(fs, argv)
	if err != nil {
		return err
	}

	dirs := map[string]string{}

	for _, d := range []string{"secrets", "config", "audit", "etcd", "controller-manager", "scheduler"} {
		if dirs[d], err = filepath.Abs(filepath.Join(out, d)); err != nil {
			return err
		}
	}

	if err = writeControlPlane(cfg, n, dirs, out); err != nil {
		return err
	}

	if *endpoint == "" {
		*endpoint = localEndpoint(cfg)
	}

	if err = writeControllerManager(cfg, *endpoint, dirs["controller-manager"], out); err != nil {
		return err
	}

	return writeScheduler(cfg, *endpoint, dirs["scheduler"], out)
}

// renderEtcdPKI writes what Talos's EtcdController keeps in /system/secrets/etcd for this node (etcdFiles): what the
// lab's etcd serves with and what its clients present. Talos issues them anew at every boot (the secrets live in
// memory); the lab does at every start of etcd.
func renderEtcdPKI(argv []string) error {
	fs := flag.NewFlagSet("render-etcd-pki", flag.ContinueOnError)

	// etcd runs on control planes only (services/etcd.go)
	cfg, n, out, err := controlPlaneNode(fs, argv)
	if err != nil {
		return err
	}

	// the lab's machines share one host: their peer connections leave from 127.0.0.1 (see node.outgoing)
	n.outgoing = netip.MustParseAddr("127.0.0.1")

	files, err := etcdFiles(cfg, n)
	if err != nil {
		return err
	}

	return writeFiles(out, files)
}

// controlPlaneNode parses a render command's common flags (--config, --out, --node-ip, --default-hostname, and those
// fs has already): a control plane's config and what machined knows of the node beyond it.
func controlPlaneNode(fs *flag.FlagSet, argv []string) (config.Provider, node, string, error) {
	configFile := fs.String("config", "", "the node's machine config")
	out := fs.String("out", "", "output directory")
	nodeIP := fs.String("node-ip", "", "the node's address ($(POD_IP), certificate SANs)")
	defaultHostname := fs.String("default-hostname", "", "the machine's hostname when its config sets none")

	if err := fs.Parse(argv); err != nil {
		return nil, node{}, "", err
	}

	if *configFile == "" || *out == "" || *nodeIP == "" {
		return nil, node{}, "", errors.New("--config, --out and --node-ip are required")
	}

	cfg, err := loadConfig(*configFile)
	if err != nil {
		return nil, node{}, "", err
	}

	if cfg.Machine() == nil || cfg.Cluster() == nil || !cfg.Machine().Type().IsControlPlane() {
		return nil, node{}, "", errors.New("not a control-plane machine config")
	}

	ip, err := netip.ParseAddr(*nodeIP)
	if err != nil {
		return nil, node{}, "", err
	}

	hostname := cfg.Machine().Network().Hostname()
	if hostname == "" {
		hostname = *defaultHostname
	}

	return cfg, node{ip: ip, hostname: hostname}, *out, nil
}

func writeScheduler(cfg config.Provider, endpoint, dir, out string) error {
	args, err := schedulerArgs(cfg, dir)
	if err != nil || args == nil {
		return err
	}

	files, err := schedulerFiles(cfg, endpoint, dir)
	if err != nil {
		return err
	}

	if err = writeFiles(dir, files); err != nil {
		return err
	}

	return writeArgs(filepath.Join(out, "kube-scheduler.json"), args, cfg.Cluster().Scheduler().Image())
}

func writeControllerManager(cfg config.Provider, endpoint, dir, out string) error {
	args, err := controllerManagerArgs(cfg, dir)
	if err != nil || args == nil {
		return err
	}

	secrets, err := controllerManagerSecrets(cfg, endpoint)
	if err != nil {
		return err
	}

	if err = writeFiles(dir, secrets); err != nil {
		return err
	}

	return writeArgs(filepath.Join(out, "kube-controller-manager.json"), args, cfg.Cluster().ControllerManager().Image())
}

func writeArgs(file string, args []string, image string) error {
	data, err := json.MarshalIndent(map[string]any{"args": args, "image": image}, "", "  ")
	if err != nil {
		return err
	}

	return os.WriteFile(file, data, 0o600)
}

func writeControlPlane(cfg config.Provider, n node, dirs map[string]string, out string) error {
	secrets, err := apiServerSecrets(cfg, n)
	if err != nil {
		return err
	}

	configs, err := apiServerConfigs(cfg)
	if err != nil {
		return err
	}

	etcd, err := etcdFiles(cfg, n)
	if err != nil {
		return err
	}

	for dir, files := range map[string]map[string][]byte{dirs["secrets"]: secrets, dirs["config"]: configs, dirs["etcd"]: etcd} {
		if err = writeFiles(dir, files); err != nil {
			return err
		}
	}

	if err = os.MkdirAll(dirs["audit"], 0o700); err != nil {
		return err
	}

	args, err := apiServerArgs(cfg, dirs["secrets"], dirs["config"], dirs["audit"], n.ip.String())
	if err != nil {
		return fmt.Errorf("kube-apiserver extraArgs: %w", err)
	}

	return writeArgs(filepath.Join(out, "kube-apiserver.json"), args, cfg.Cluster().APIServer().Image())
}

// kubeClientCert writes NAME.crt and NAME.key, a client certificate from the cluster CA (cluster.ca): with
// --cn admin --org system:masters it is the one Talos's own clients use (pkg/kubernetes NewTemporaryClientFromPKI,
// constants.KubernetesAdminCertCommonName and KubernetesAdminCertOrganization).
func kubeClientCert(argv []string) error {
	fs := flag.NewFlagSet("kube-client-cert", flag.ContinueOnError)
	configFile := fs.String("config", "", "a control-plane machine config (its cluster.ca has the key)")
	cn := fs.String("cn", "", "common name (the Kubernetes user)")
	orgs := fs.String("org", "", "organizations (the groups), comma-separated")
	out := fs.String("out", "", "path prefix of NAME.crt and NAME.key")

	if err := fs.Parse(argv); err != nil {
		return err
	}

	cfg, err := loadConfig(*configFile)
	if err != nil {
		return err
	}

	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(cfg.Cluster().IssuingCA())
	if err != nil {
		return fmt.Errorf("cluster.ca: %w", err)
	}

	opts := []x509.Option{
		x509.CommonName(*cn),
		x509.NotBefore(time.Now().Add(-time.Minute)),
		x509.NotAfter(time.Now().Add(24 * time.Hour)),
	}
	if *orgs != "" {
		opts = append(opts, x509.Organization(strings.Split(*orgs, ",")...))
	}

	pair, err := x509.NewKeyPair(ca, opts...)
	if err != nil {
		return err
	}

	if err = os.WriteFile(*out+".crt", pair.CrtPEM, 0o600); err != nil {
		return err
	}

	return os.WriteFile(*out+".key", pair.KeyPEM, 0o600)
}
