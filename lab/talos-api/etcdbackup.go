package main

// machined's etcd backup and recovery (v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go):
// EtcdSnapshot streams the snapshot of the machine's REAL etcd (the lab runs etcd itself, so the bytes are etcd's own
// Maintenance/Snapshot, sha256 trailer included); EtcdRecover stores an uploaded snapshot where the etcd service's
// recovery reads it. Bootstrap with recover_etcd is the model's (lab/machine-api/etcd-data.ts).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
)

// snapshotChunk: how much of the snapshot goes in one stream message.
const snapshotChunk = 64 * 1024

// localEtcd asks the model for this machine's etcd client URL and the directory of its etcd certificates
// (Talos's /system/secrets/etcd); the model refuses a worker (checkControlplane) and a machine whose etcd does not
// answer.
func (s *machinedServer) localEtcd(ctx context.Context, api string) (url, pki string, err error) {
	var ep struct {
		URL string `json:"url"`
		PKI string `json:"pki"`
	}

	if err := s.nodes.model.NodeCall(ctx, s.name, "EtcdLocalEndpoint", map[string]string{"api": api}, &ep); err != nil {
		return "", "", grpcError(err)
	}

	return ep.URL, ep.PKI, nil
}

// EtcdSnapshot: v1alpha1_server.go:1896-1932, a local etcd client's Snapshot, chunked onto the stream.
func (s *machinedServer) EtcdSnapshot(_ *machine.EtcdSnapshotRequest, srv grpc.ServerStreamingServer[common.Data]) error {
	ctx, cancel := context.WithCancel(srv.Context())
	defer cancel()

	url, pki, err := s.localEtcd(ctx, "etcd snapshot")
	if err != nil {
		return err
	}

	// internal/pkg/etcd/etcd.go NewClient:42-60: mutual TLS with the admin certificate, 5 s to dial, no logging (the
	// lab's etcd listens on the node's address, not on localhost)
	tlsInfo := transport.TLSInfo{
		CertFile:      filepath.Join(pki, "admin.crt"),
		KeyFile:       filepath.Join(pki, "admin.key"),
		TrustedCAFile: filepath.Join(pki, "ca.crt"),
	}

	tlsConfig, err := tlsInfo.ClientConfig()
	if err != nil {
		return fmt.Errorf("error building etcd client TLS config: %w", err)
	}

	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{url}, DialTimeout: 5 * time.Second, Context: ctx, Logger: zap.NewNop(), TLS: tlsConfig,
	})
	if err != nil {
		return fmt.Errorf("failed to create etcd client: %w", err)
	}

	defer cli.Close() //nolint:errcheck

	rd, err := cli.Snapshot(ctx) //nolint:staticcheck // Talos v1.10.3 calls the same Snapshot
	if err != nil {
		return fmt.Errorf("failed reading etcd snapshot: %w", err)
	}

	defer rd.Close() //nolint:errcheck

	buf := make([]byte, snapshotChunk)

	for {
		n, err := rd.Read(buf)
		if n > 0 {
			if sendErr := srv.Send(&common.Data{Bytes: append([]byte(nil), buf[:n]...)}); sendErr != nil {
				return sendErr
			}
		}

		if errors.Is(err, io.EOF) {
			return nil
		}

		if err != nil {
			return err
		}
	}
}

// EtcdRecover: v1alpha1_server.go:1935-2000, the upload is written to the recovery snapshot path (0700, truncated),
// fsynced, and removed again unless the whole upload arrived.
func (s *machinedServer) EtcdRecover(srv grpc.ClientStreamingServer[common.Data, machine.EtcdRecoverResponse]) error {
	var target struct {
		Path string `json:"path"`
	}

	if err := s.nodes.model.NodeCall(srv.Context(), s.name, "EtcdRecoverTarget", struct{}{}, &target); err != nil {
		return grpcError(err)
	}

	snapshot, err := os.OpenFile(target.Path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o700)
	if err != nil {
		return fmt.Errorf("error creating etcd recovery snapshot: %w", err)
	}

	defer snapshot.Close() //nolint:errcheck

	uploaded := false

	defer func() {
		if !uploaded {
			os.Remove(snapshot.Name()) //nolint:errcheck
		}
	}()

	for {
		msg, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}

		if err != nil {
			return err
		}

		if _, err := snapshot.Write(msg.Bytes); err != nil {
			return fmt.Errorf("error writing snapshot: %w", err)
		}
	}

	if err := snapshot.Sync(); err != nil {
		return fmt.Errorf("error fsyncing snapshot: %w", err)
	}

	if err := snapshot.Close(); err != nil {
		return fmt.Errorf("error closing snapshot: %w", err)
	}

	uploaded = true

	return srv.SendAndClose(&machine.EtcdRecoverResponse{Messages: []*machine.EtcdRecover{{}}})
}
