package main

// machined's power methods and its event stream (v1.10.3 internal/app/machined/internal/server/v1alpha1/
// v1alpha1_server.go Reboot, Shutdown, Upgrade, Reset, Rollback, Events). The machine model runs the sequences: each
// method answers first (an actor id) and the machine goes down afterwards; Upgrade answers only after the model has
// pulled the installer image and, on a control plane, checked etcd under its upgrade lock. Events streams the
// machine's event buffer, which talosctl's --wait watches (cmd/talosctl/pkg/talos/action/node.go).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cosi-project/runtime/pkg/safe"
	"github.com/rs/xid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/resources/block"
)

func (s *machinedServer) Reboot(ctx context.Context, in *machine.RebootRequest) (*machine.RebootResponse, error) {
	out := &machine.RebootResponse{}

	return out, callModel(ctx, s.nodes, s.name, "Reboot", in, out)
}

func (s *machinedServer) Shutdown(ctx context.Context, in *machine.ShutdownRequest) (*machine.ShutdownResponse, error) {
	out := &machine.ShutdownResponse{}

	return out, callModel(ctx, s.nodes, s.name, "Shutdown", in, out)
}

func (s *machinedServer) Upgrade(ctx context.Context, in *machine.UpgradeRequest) (*machine.UpgradeResponse, error) {
	out := &machine.UpgradeResponse{}

	return out, callModel(ctx, s.nodes, s.name, "Upgrade", in, out)
}

func (s *machinedServer) Rollback(ctx context.Context, in *machine.RollbackRequest) (*machine.RollbackResponse, error) {
	out := &machine.RollbackResponse{}

	return out, callModel(ctx, s.nodes, s.name, "Rollback", in, out)
}

// Reset checks the request as machined does (v1alpha1_server.go:612-672): the wipe mode against the lists, and each
// system partition to wipe against the machine's VolumeStatus (Talos's own "not found" from the resource state).
// Plain errors, so talosctl sees code Unknown as from machined. Then the model runs the reset.
func (s *machinedServer) Reset(ctx context.Context, in *machine.ResetRequest) (*machine.ResetResponse, error) {
	if len(in.GetUserDisksToWipe()) > 0 && in.GetMode() == machine.ResetRequest_SYSTEM_DISK {
		return nil, errors.New("reset failed: invalid input, wipe mode SYSTEM_DISK doesn't support UserDisksToWipe parameter")
	}

	if len(in.GetSystemPartitionsToWipe()) > 0 {
		if in.GetMode() == machine.ResetRequest_USER_DISKS {
			return nil, errors.New("reset failed: invalid input, wipe mode USER_DISKS doesn't support SystemPartitionsToWipe parameter")
		}

		st, err := filteredState(ctx, s.nodes, s.name)
		if err != nil {
			return nil, err
		}

		for _, spec := range in.GetSystemPartitionsToWipe() {
			vs, err := safe.ReaderGetByID[*block.VolumeStatus](ctx, st, spec.GetLabel())
			if err != nil {
				return nil, fmt.Errorf("failed to get volume status with label %q: %w", spec.GetLabel(), err)
			}

			if vs.TypedSpec().Location == "" {
				return nil, fmt.Errorf("failed to reset: volume %q is not located", spec.GetLabel())
			}
		}
	}

	out := &machine.ResetResponse{}

	return out, callModel(ctx, s.nodes, s.name, "Reset", in, out)
}

// eventsArgs asks the model for the machine's events: the first call with the request's tail options, then from
// where the last answer ended, in the same boot.
type eventsArgs struct {
	After       *int   `json:"after,omitempty"`
	Boot        string `json:"boot,omitempty"`
	TailEvents  int32  `json:"tailEvents,omitempty"`
	TailID      string `json:"tailId,omitempty"`
	TailSeconds int32  `json:"tailSeconds,omitempty"`
	WithActorID string `json:"withActorId,omitempty"`
}

type eventsAnswer struct {
	Boot   string    `json:"boot"`
	Gone   bool      `json:"gone"`
	Next   int       `json:"next"`
	Events []rawJSON `json:"events"`
}

// eventsPoll is how often a watch looks for new events in the machine's buffer.
const eventsPoll = 100 * time.Millisecond

// Events (v1alpha1_server.go:1387-1448): an empty "hello" event first, then the buffer from where the tail options
// say, then every new event until the client goes or the machine does (its listener closes: Unavailable).
func (s *machinedServer) Events(in *machine.EventsRequest, srv grpc.ServerStreamingServer[machine.Event]) error {
	ctx := srv.Context()

	if in.GetTailId() != "" {
		if _, err := xid.FromString(in.GetTailId()); err != nil {
			return fmt.Errorf("error parsing tail_id: %w", err)
		}
	}

	args := eventsArgs{TailEvents: in.GetTailEvents(), TailID: in.GetTailId(), TailSeconds: in.GetTailSeconds(), WithActorID: in.GetWithActorId()}

	ans, err := s.events(ctx, args)
	if err != nil {
		return err
	}

	// sendEmptyEvent: a payload-less event with the watched actor id
	if err := srv.Send(&machine.Event{Data: &anypb.Any{}, Id: xid.New().String(), ActorId: in.GetWithActorId()}); err != nil {
		return err
	}

	ticker := time.NewTicker(eventsPoll)
	defer ticker.Stop()

	for {
		for _, raw := range ans.Events {
			ev := &machine.Event{}
			if err := protojson.Unmarshal(raw, ev); err != nil {
				return status.Error(codes.Internal, fmt.Sprintf("lab model answered Events with a message Talos does not have: %v", err))
			}

			if err := srv.Send(ev); err != nil {
				return err
			}
		}

		next := ans.Next
		args = eventsArgs{After: &next, Boot: ans.Boot, WithActorID: in.GetWithActorId()}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}

		if ans, err = s.events(ctx, args); err != nil {
			return err
		}
	}
}

func (s *machinedServer) events(ctx context.Context, args eventsArgs) (eventsAnswer, error) {
	var ans eventsAnswer

	if err := s.nodes.model.NodeCall(ctx, s.name, "Events", args, &ans); err != nil {
		if ctx.Err() != nil {
			return ans, ctx.Err()
		}

		return ans, grpcError(err)
	}

	if ans.Gone {
		// a new boot is a new machined: this watch's machined is gone
		return ans, status.Error(codes.Unavailable, "machined restarted: the machine rebooted")
	}

	return ans, nil
}
