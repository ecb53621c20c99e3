package main

// machined's MachineService for a configured machine: each method hands the request, as protojson, to the machine
// model, and decodes the model's answer strictly into Talos's own response type (a field the real message lacks is an
// error). Errors carry the gRPC code the model names, as machined returns them.

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/version"
)

type machinedServer struct {
	machine.UnimplementedMachineServiceServer

	name  string
	nodes *nodeSet
}

var codeByName = func() map[string]codes.Code {
	m := map[string]codes.Code{}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		m[c.String()] = c
	}

	return m
}()

// grpcError: a model error as the gRPC status machined would return.
func grpcError(err error) error {
	var me *ModelError
	if errors.As(err, &me) {
		code, ok := codeByName[me.Code]
		if !ok {
			code = codes.Unknown
		}

		return status.Error(code, me.Message)
	}

	return status.Error(codes.Unavailable, err.Error())
}

// callModel sends req to the model's operation and decodes its JSON answer into resp.
func callModel(ctx context.Context, nodes *nodeSet, name, op string, req proto.Message, resp proto.Message) error {
	args := []byte("{}")

	if req != nil {
		var err error

		if args, err = protojson.Marshal(req); err != nil {
			return err
		}
	}

	var raw rawJSON
	if err := nodes.model.NodeCall(ctx, name, op, rawJSON(args), &raw); err != nil {
		return grpcError(err)
	}

	if err := protojson.Unmarshal(raw, resp); err != nil {
		return status.Error(codes.Internal, fmt.Sprintf("lab model answered %s with a message Talos does not have: %v", op, err))
	}

	return nil
}

// streamModel: the model answers a list of messages, each sent as one stream message of type T.
func streamModel[T proto.Message](ctx context.Context, nodes *nodeSet, name, op string, req proto.Message, newMsg func() T, send func(T) error) error {
	args, err := protojson.Marshal(req)
	if err != nil {
		return err
	}

	var raws []rawJSON
	if err := nodes.model.NodeCall(ctx, name, op, rawJSON(args), &raws); err != nil {
		return grpcError(err)
	}

	for _, raw := range raws {
		m := newMsg()
		if err := protojson.Unmarshal(raw, m); err != nil {
			return status.Error(codes.Internal, fmt.Sprintf("lab model answered %s with a message Talos does not have: %v", op, err))
		}

		if err := send(m); err != nil {
			return err
		}
	}

	return nil
}

// versionInfo: the build of Talos the machine runs (its installed tag; the rest as v1.10.3's gendata says).
func versionInfo(tag string) *machine.VersionInfo {
	v := version.NewVersion()
	v.Tag = tag

	return v
}

func (s *machinedServer) Version(ctx context.Context, _ *emptypb.Empty) (*machine.VersionResponse, error) {
	n, ok := s.nodes.get(s.name)
	if !ok {
		return nil, status.Error(codes.Unavailable, "machine is gone")
	}

	return &machine.VersionResponse{Messages: []*machine.Version{{
		Version:  versionInfo(n.TalosVersion),
		Platform: &machine.PlatformInfo{Name: "metal", Mode: "metal"},
		Features: &machine.FeaturesInfo{Rbac: true},
	}}}, nil
}

func (s *machinedServer) ServiceList(ctx context.Context, in *emptypb.Empty) (*machine.ServiceListResponse, error) {
	out := &machine.ServiceListResponse{}

	return out, callModel(ctx, s.nodes, s.name, "ServiceList", in, out)
}

func (s *machinedServer) ServiceRestart(ctx context.Context, in *machine.ServiceRestartRequest) (*machine.ServiceRestartResponse, error) {
	out := &machine.ServiceRestartResponse{}

	return out, callModel(ctx, s.nodes, s.name, "ServiceRestart", in, out)
}

func (s *machinedServer) EtcdStatus(ctx context.Context, in *emptypb.Empty) (*machine.EtcdStatusResponse, error) {
	out := &machine.EtcdStatusResponse{}

	return out, callModel(ctx, s.nodes, s.name, "EtcdStatus", in, out)
}

func (s *machinedServer) EtcdMemberList(ctx context.Context, in *machine.EtcdMemberListRequest) (*machine.EtcdMemberListResponse, error) {
	out := &machine.EtcdMemberListResponse{}

	return out, callModel(ctx, s.nodes, s.name, "EtcdMemberList", in, out)
}

func (s *machinedServer) EtcdAlarmList(ctx context.Context, in *emptypb.Empty) (*machine.EtcdAlarmListResponse, error) {
	out := &machine.EtcdAlarmListResponse{}

	return out, callModel(ctx, s.nodes, s.name, "EtcdAlarmList", in, out)
}

func (s *machinedServer) Mounts(ctx context.Context, in *emptypb.Empty) (*machine.MountsResponse, error) {
	out := &machine.MountsResponse{}

	return out, callModel(ctx, s.nodes, s.name, "Mounts", in, out)
}

// Containers: `talosctl containers [-k]` (v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:1460,
// the model's lab/machine-api/containers.ts).
func (s *machinedServer) Containers(ctx context.Context, in *machine.ContainersRequest) (*machine.ContainersResponse, error) {
	out := &machine.ContainersResponse{}

	return out, callModel(ctx, s.nodes, s.name, "Containers", in, out)
}

func (s *machinedServer) Read(in *machine.ReadRequest, srv grpc.ServerStreamingServer[common.Data]) error {
	return streamModel(srv.Context(), s.nodes, s.name, "Read", in, func() *common.Data { return &common.Data{} }, srv.Send)
}

func (s *machinedServer) List(in *machine.ListRequest, srv grpc.ServerStreamingServer[machine.FileInfo]) error {
	return streamModel(srv.Context(), s.nodes, s.name, "List", in, func() *machine.FileInfo { return &machine.FileInfo{} }, srv.Send)
}

func (s *machinedServer) Dmesg(in *machine.DmesgRequest, srv grpc.ServerStreamingServer[common.Data]) error {
	return streamModel(srv.Context(), s.nodes, s.name, "Dmesg", in, func() *common.Data { return &common.Data{} }, srv.Send)
}

func (s *machinedServer) EtcdRemoveMemberByID(ctx context.Context, in *machine.EtcdRemoveMemberByIDRequest) (*machine.EtcdRemoveMemberByIDResponse, error) {
	out := &machine.EtcdRemoveMemberByIDResponse{}

	return out, callModel(ctx, s.nodes, s.name, "EtcdRemoveMemberByID", in, out)
}
