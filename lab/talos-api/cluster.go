package main

// machined's cluster methods: Bootstrap (the model starts etcd) and Kubeconfig, which machined generates from the
// machine config itself (v1.10.3 v1alpha1_server.go Kubeconfig: kubeconfig.GenerateAdmin, wrapped in a tar.gz with
// one file "kubeconfig"); here with the same pkg/kubeconfig.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/siderolabs/talos/pkg/kubeconfig"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
)

func (s *machinedServer) Bootstrap(ctx context.Context, in *machine.BootstrapRequest) (*machine.BootstrapResponse, error) {
	out := &machine.BootstrapResponse{}

	return out, callModel(ctx, s.nodes, s.name, "Bootstrap", in, out)
}

func (s *machinedServer) Kubeconfig(_ *emptypb.Empty, srv grpc.ServerStreamingServer[common.Data]) error {
	n, _ := s.nodes.get(s.name)
	if n.Role != "controlplane" {
		return status.Error(codes.Unimplemented, "kubeconfig is only available on control plane nodes")
	}

	cfg, err := loadNodeConfig(n.Config)
	if err != nil {
		return err
	}

	var kc bytes.Buffer
	if err := kubeconfig.GenerateAdmin(cfg.Cluster(), &kc); err != nil {
		return err
	}

	var buf bytes.Buffer

	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)

	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "kubeconfig", Size: int64(kc.Len()), ModTime: time.Now(), Mode: 0o600}); err != nil {
		return err
	}

	if _, err := tw.Write(kc.Bytes()); err != nil {
		return err
	}

	if err := tw.Close(); err != nil {
		return err
	}

	if err := zw.Close(); err != nil {
		return err
	}

	return srv.Send(&common.Data{Bytes: buf.Bytes()})
}
