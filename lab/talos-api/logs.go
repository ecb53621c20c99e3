package main

// machined's Logs for a system service (v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:
// 1249-1292): the service's log as machined's logging manager holds it, the last --tail lines of it, and with --follow
// what the service logs afterwards until the client goes away. The lines are the model's (lab/machine-api/logs.ts).

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
)

// followInterval: how often a followed log is read again.
const followInterval = 500 * time.Millisecond

func (s *machinedServer) serviceLog(ctx context.Context, in *machine.LogsRequest) ([]string, error) {
	var log struct {
		Lines []string `json:"lines"`
	}

	args := map[string]string{"id": in.Id, "namespace": in.Namespace}
	if err := s.nodes.model.NodeCall(ctx, s.name, "ServiceLog", args, &log); err != nil {
		return nil, grpcError(err)
	}

	return log.Lines, nil
}

// sendLines sends lines as one chunk of text (machined streams its buffer in chunks; talosctl splits them into lines).
func sendLines(srv grpc.ServerStreamingServer[common.Data], lines []string) error {
	if len(lines) == 0 {
		return nil
	}

	return srv.Send(&common.Data{Bytes: []byte(strings.Join(lines, "\n") + "\n")})
}

func (s *machinedServer) Logs(in *machine.LogsRequest, srv grpc.ServerStreamingServer[common.Data]) error {
	ctx := srv.Context()

	lines, err := s.serviceLog(ctx, in)
	if err != nil {
		return err
	}

	// TailLines -1 (talosctl's default) is the whole log (runtime.WithTailLines only when >= 0)
	first := lines
	if in.TailLines >= 0 && int(in.TailLines) < len(lines) {
		first = lines[len(lines)-int(in.TailLines):]
	}

	if err := sendLines(srv, first); err != nil {
		return err
	}

	if !in.Follow {
		return nil
	}

	seen := len(lines)

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followInterval):
		}

		// machined follows a buffer in its own memory, a read that cannot fail; the lab's read is a call to the
		// machine model, which a loaded host can time out: the stream goes on with the next read instead of ending
		lines, err := s.serviceLog(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}

			continue
		}

		// a log that got shorter was rotated or wiped: start over
		if len(lines) < seen {
			seen = 0
		}

		if err := sendLines(srv, lines[seen:]); err != nil {
			return err
		}

		seen = len(lines)
	}
}
