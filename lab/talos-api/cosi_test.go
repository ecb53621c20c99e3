package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/resources/block"
)

// The model's spec is decoded strictly into Talos's type: the legacy runtime field name on the block MountStatus is
// an error, Talos's own field decodes into the typed value.
func TestTypedResourceIsStrict(t *testing.T) {
	_, err := typedResource(block.NamespaceName, block.MountStatusType, "u-ledger", "block.MountController",
		json.RawMessage(`{"source":"/dev/nvme0n1p1","target":"/var/mnt/ledger","filesystemType":"xfs"}`))
	if err == nil || !strings.Contains(err.Error(), "field filesystemType not found") {
		t.Fatalf("want an unknown-field error, got %v", err)
	}

	r, err := typedResource(block.NamespaceName, block.MountStatusType, "u-ledger", "block.MountController",
		json.RawMessage(`{"source":"/dev/nvme0n1p1","target":"/var/mnt/ledger","filesystem":"xfs"}`))
	if err != nil {
		t.Fatal(err)
	}

	ms, ok := r.(*block.MountStatus)
	if !ok || ms.TypedSpec().Filesystem != block.FilesystemTypeXFS || r.Metadata().Owner() != "block.MountController" {
		t.Fatalf("decoded %#v", r)
	}
}
