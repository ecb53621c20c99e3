package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cosi-project/runtime/pkg/state"

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

// A model resource keeps its owner through create, update and destroy in the machine's state.
func TestPutKeepsTheOwner(t *testing.T) {
	ctx := context.Background()

	st, err := newMachineState(ctx)
	if err != nil {
		t.Fatal(err)
	}

	rs := &refreshingState{CoreState: st, st: st}

	for _, fs := range []string{"xfs", "ext4"} {
		r, err := typedResource(block.NamespaceName, block.MountStatusType, "u-ledger", "block.MountController",
			json.RawMessage(`{"filesystem":"`+fs+`"}`))
		if err != nil {
			t.Fatal(err)
		}

		if err := rs.put(ctx, r); err != nil {
			t.Fatalf("put %s: %v", fs, err)
		}
	}

	got, err := st.Get(ctx, block.NewMountStatus(block.NamespaceName, "u-ledger").Metadata())
	if err != nil || got.Metadata().Owner() != "block.MountController" || got.(*block.MountStatus).TypedSpec().Filesystem != block.FilesystemTypeEXT4 {
		t.Fatalf("got %v, %v", got, err)
	}

	if err := st.Destroy(ctx, got.Metadata(), state.WithDestroyOwner(got.Metadata().Owner())); err != nil {
		t.Fatal(err)
	}
}
