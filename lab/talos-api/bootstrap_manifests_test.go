package main

import (
	"strings"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"gopkg.in/yaml.v3"
)

// The kubelet-bootstrapping manifests carry cluster.token split where Talos splits it, no template field is left in
// any manifest, and the manifests a default config enables are there under Talos's ids.
func TestBootstrapManifestsForAGeneratedConfig(t *testing.T) {
	cfg := controlPlaneConfig(t, nil)
	if cfg.Machine().Type() != machine.TypeControlPlane {
		t.Fatal("not a control plane")
	}

	spec, err := bootstrapManifestsConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	manifests, err := renderManifests(spec, rootSecrets(cfg))
	if err != nil {
		t.Fatal(err)
	}

	byID := map[string]string{}
	for _, m := range manifests {
		byID[m.name] = string(m.data)

		if strings.Contains(string(m.data), "{{") {
			t.Errorf("%s: a template field is left", m.name)
		}
	}

	for _, id := range []string{
		"00-kubelet-bootstrapping-token", "01-csr-node-bootstrap", "01-csr-approver-role-binding",
		"01-csr-renewal-role-binding", "05-flannel", "10-kube-proxy", "11-core-dns", "11-core-dns-svc",
		"11-kube-config-in-cluster",
	} {
		if _, ok := byID[id]; !ok {
			t.Errorf("no manifest %s (have %d)", id, len(byID))
		}
	}

	var secret struct {
		Metadata   struct{ Name string }
		StringData map[string]string `yaml:"stringData"`
	}
	if err = yaml.Unmarshal([]byte(byID["00-kubelet-bootstrapping-token"]), &secret); err != nil {
		t.Fatal(err)
	}

	id, sec, _ := strings.Cut(cfg.Cluster().Token().ID()+"."+cfg.Cluster().Token().Secret(), ".")
	if secret.Metadata.Name != "bootstrap-token-"+id || secret.StringData["token-id"] != id ||
		secret.StringData["token-secret"] != sec || secret.StringData["auth-extra-groups"] != "system:bootstrappers:nodes" {
		t.Errorf("the bootstrap token Secret does not carry cluster.token as Talos splits it: %+v", secret)
	}
}
