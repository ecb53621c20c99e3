package main

// The Manifest resources a control plane serves (`talosctl get manifests`), which `talosctl upgrade-k8s` syncs to the
// cluster at its end (pkg/cluster/kubernetes/talos_managed.go getManifests: go-kubernetes manifests.
// GetBootstrapManifests lists them in the controlplane namespace): Talos v1.10.3's ManifestController's bootstrap
// manifests (manifest.go Run :111-115, ids as rendered: bootstrap_manifests.go renderManifests) and
// ExtraManifestController's inline manifests (extra_manifest.go processInline, id "<priority>-<name>" :148, priority
// "99" from ControlPlaneExtraManifestsController, control_plane.go :405-411). Each manifest's YAML becomes its items
// as Talos's adapter makes them (internal/app/machined/pkg/adapters/k8s/manifest.go SetYAML: each document to JSON,
// empty and comment-only documents skipped, a List unwrapped into its items).
// Lab deviation: manifests from URLs (the CNI's, the external cloud provider's, cluster.extraManifests) are not
// fetched, so not served; the lab's inventories use none.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/resources/k8s"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// manifestResources: the Manifest resources of a control plane's config, none on a worker.
func manifestResources(cfg config.Provider) ([]resource.Resource, error) {
	if cfg.Cluster() == nil || cfg.Machine() == nil || !cfg.Machine().Type().IsControlPlane() {
		return nil, nil
	}

	spec, err := bootstrapManifestsConfig(cfg)
	if err != nil {
		return nil, err
	}

	rendered, err := renderManifests(spec, rootSecrets(cfg))
	if err != nil {
		return nil, err
	}

	out := make([]resource.Resource, 0, len(rendered)+len(cfg.Cluster().InlineManifests()))

	add := func(id, owner string, data []byte) error {
		items, err := manifestItems(data)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", id, err)
		}

		r := k8s.NewManifest(k8s.ControlPlaneNamespaceName, id)
		r.TypedSpec().Items = items

		if err := r.Metadata().SetOwner(owner); err != nil {
			return err
		}

		out = append(out, r)

		return nil
	}

	for _, m := range rendered {
		if err := add(m.name, "k8s.ManifestController", m.data); err != nil {
			return nil, err
		}
	}

	for _, m := range cfg.Cluster().InlineManifests() {
		if err := add("99-"+m.Name(), "k8s.ExtraManifestController", []byte(m.Contents())); err != nil {
			return nil, err
		}
	}

	return out, nil
}

// manifestItems: the objects of a multi-document YAML, as Talos's Manifest adapter SetYAML makes them.
func manifestItems(data []byte) ([]k8s.SingleManifest, error) {
	var items []k8s.SingleManifest

	reader := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))

	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return items, nil
		}

		if err != nil {
			return nil, err
		}

		doc = bytes.TrimSpace(doc)
		if len(doc) == 0 {
			continue
		}

		js, err := yaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("error converting manifest to JSON: %w", err)
		}

		if bytes.Equal(js, []byte("null")) || bytes.Equal(js, []byte("{}")) {
			continue // a document of comments only
		}

		var obj unstructured.Unstructured
		if err := json.Unmarshal(js, &obj); err != nil {
			return nil, fmt.Errorf("error loading JSON manifest into unstructured: %w", err)
		}

		if !obj.IsList() {
			items = append(items, k8s.SingleManifest{Object: obj.Object})

			continue
		}

		if err := obj.EachListItem(func(item runtime.Object) error {
			u, ok := item.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("list item is not Unstructured: %T", item)
			}

			items = append(items, k8s.SingleManifest{Object: u.Object})

			return nil
		}); err != nil {
			return nil, fmt.Errorf("error unwrapping a List: %w", err)
		}
	}
}
