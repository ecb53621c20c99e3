package main

// The maintenance API of a machine that booted without a config (v1.10.3 internal/app/maintenance/server.go): a plain
// client gets the Reader role, and Version, like every method but ApplyConfiguration, answers only os:admin
// (assertAdminRole: "API is not implemented in maintenance mode"). The resource state is served read-only.

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/siderolabs/talos/pkg/grpc/middleware/authz"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/role"
)

type maintenanceServer struct {
	machine.UnimplementedMachineServiceServer

	name  string
	nodes *nodeSet
}

func assertAdminRole(ctx context.Context) error {
	if !authz.HasRole(ctx, role.Admin) {
		return status.Error(codes.Unimplemented, "API is not implemented in maintenance mode")
	}

	return nil
}

func (s *maintenanceServer) Version(ctx context.Context, _ *emptypb.Empty) (*machine.VersionResponse, error) {
	if err := assertAdminRole(ctx); err != nil {
		return nil, err
	}

	n, _ := s.nodes.get(s.name)

	return &machine.VersionResponse{Messages: []*machine.Version{{
		Version:  versionInfo(n.TalosVersion),
		Platform: &machine.PlatformInfo{Name: "metal", Mode: "metal"},
	}}}, nil
}

// ApplyConfiguration: the maintenance service accepts auto, reboot and try only (server.go ApplyConfiguration);
// validation and the install itself are the model's.
func (s *maintenanceServer) ApplyConfiguration(ctx context.Context, in *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	switch in.Mode { //nolint:exhaustive
	case machine.ApplyConfigurationRequest_TRY, machine.ApplyConfigurationRequest_REBOOT, machine.ApplyConfigurationRequest_AUTO:
	default:
		return nil, status.Errorf(codes.Unimplemented, "apply configuration --mode='%s' is not supported in maintenance mode",
			modeName(in.Mode))
	}

	out := &machine.ApplyConfigurationResponse{}

	return out, callModel(ctx, s.nodes, s.name, "MaintenanceApplyConfiguration", in, out)
}
