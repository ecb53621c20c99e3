package main

// The maintenance API of a machine that booted without a config (v1.10.3 internal/app/maintenance/server.go): a plain
// client gets the Reader role, and Version, like every method but ApplyConfiguration, answers only os:admin
// (assertAdminRole: "API is not implemented in maintenance mode"). The resource state is served read-only.

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/siderolabs/talos/pkg/grpc/middleware/authz"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
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

	cfg, err := configloader.NewFromBytes(in.GetData())
	if err != nil {
		return nil, fmt.Errorf("failed to parse config: %w", err)
	}

	warnings, err := cfg.Validate(metalMode{})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "configuration validation failed: %s", err)
	}

	reply := &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{Warnings: warnings}}}

	if in.DryRun {
		reply.Messages[0].ModeDetails = "Dry run summary:\nNode is running in maintenance mode and does not have a config yet."

		return reply, nil
	}

	// machined takes the config and installs in the background; the client has its answer first
	if err := s.nodes.model.NodeCall(ctx, s.name, "install", map[string]string{"config": string(in.GetData())}, nil); err != nil {
		return nil, grpcError(err)
	}

	return reply, nil
}

// metalMode is the runtime mode of a bare-metal machine (internal/app/machined/pkg/runtime/mode.go, ModeMetal):
// it installs to disk and is not a container.
type metalMode struct{}

func (metalMode) String() string        { return "metal" }
func (metalMode) RequiresInstall() bool { return true }
func (metalMode) InContainer() bool     { return false }
