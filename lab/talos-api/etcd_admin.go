package main

// machined's etcd administration beyond status and members (v1.10.3
// internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go): the model moves leadership on the machine's
// real etcd.

import (
	"context"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
)

// EtcdForfeitLeadership (v1alpha1_server.go:1862): a control plane only; the leader hands leadership to another
// member, anything else answers with no member (internal/pkg/etcd/etcd.go:220 ForfeitLeadership).
func (s *machinedServer) EtcdForfeitLeadership(ctx context.Context, in *machine.EtcdForfeitLeadershipRequest) (*machine.EtcdForfeitLeadershipResponse, error) {
	out := &machine.EtcdForfeitLeadershipResponse{}

	return out, callModel(ctx, s.nodes, s.name, "EtcdForfeitLeadership", in, out)
}
