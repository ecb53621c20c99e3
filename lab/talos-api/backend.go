package main

// The clean internal interface between this API server and the lab's machine model (lab/machine-api/, served by the
// lab's machine API daemon on <lab dir>/machine-api.sock): the machine behaviour (sysroot, etcd, services, power, faults) stays in the
// TypeScript model; this server speaks Talos's gRPC API with Talos's own types in front of it. JSON over HTTP, one
// request per call.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Node is what the model says of one machine right now.
type Node struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Role    string `json:"role"`
	// Stage as Talos reports it (off, maintenance, booting, running, rebooting, shutting down).
	Stage string `json:"stage"`
	// Down: the machine does not answer at all (fault or power).
	Down bool `json:"down"`
	// SlowMs: every call takes this much longer.
	SlowMs int `json:"slowMs"`
	// TalosVersion of the installed (or booted maintenance) image.
	TalosVersion string `json:"talosVersion"`
	// Config is the machine config the node runs (YAML), empty in maintenance mode.
	Config string `json:"config"`
	// PersistentConfig is the config saved to STATE, when it is not the active one (a staged or tried config).
	PersistentConfig string `json:"persistentConfig,omitempty"`
}

// Serving says whether the machine's apid listens: a machine that is off, down or going down refuses connections.
func (n Node) Serving() bool {
	if n.Down {
		return false
	}

	switch n.Stage {
	case "off", "rebooting", "shutting down":
		return false
	}

	return true
}

// Maintenance: Talos booted without a config, serving the maintenance API.
func (n Node) Maintenance() bool { return n.Stage == "maintenance" || n.Config == "" }

// ModelError is an error the model returns for a call: a gRPC code name and a message.
type ModelError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *ModelError) Error() string { return e.Message }

// Model is the client of the machine model.
type Model struct {
	client *http.Client
}

func newModel(socket string) *Model {
	return &Model{client: &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", socket)
			},
			// An idle connection is dropped here long before the daemon drops it (its keepAliveTimeout is 60 s): a POST
			// sent on a connection the server is closing fails "connection reset by peer" and is not retried (net/http
			// retries only idempotent requests), which failed a 02's install in CI.
			IdleConnTimeout: 10 * time.Second,
		},
		Timeout: 10 * time.Minute,
	}}
}

// call POSTs args as JSON to /api/<path> and decodes the answer into out.
func (m *Model) call(ctx context.Context, path string, args any, out any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://model/api/"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}

	resp, err := m.client.Do(req)
	if err != nil {
		return fmt.Errorf("lab machine model: %w", err)
	}

	defer resp.Body.Close() //nolint:errcheck

	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}

	if resp.StatusCode != http.StatusOK {
		var me ModelError
		if json.Unmarshal(data, &me) == nil && me.Message != "" {
			return &me
		}

		return fmt.Errorf("lab machine model: %s: %s", resp.Status, data)
	}

	if out == nil {
		return nil
	}

	return json.Unmarshal(data, out)
}

// Nodes lists every machine of the lab.
func (m *Model) Nodes(ctx context.Context) ([]Node, error) {
	var nodes []Node

	return nodes, m.call(ctx, "nodes", struct{}{}, &nodes)
}

// NodeCall calls one operation on one machine.
func (m *Model) NodeCall(ctx context.Context, node, op string, args any, out any) error {
	return m.call(ctx, "node/"+url.PathEscape(node)+"/"+op, args, out)
}
