package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/siderolabs/talos/pkg/argsbuilder"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
)

// generatedConfig is what `talosctl gen config` makes for a machine of type typ.
func generatedConfig(t *testing.T, typ machine.Type) config.Provider {
	t.Helper()

	in, err := generate.NewInput("lab", "https://127.0.131.10:6443", "1.33.1")
	if err != nil {
		t.Fatal(err)
	}

	cfg, err := in.Config(typ)
	if err != nil {
		t.Fatal(err)
	}

	return cfg
}

// controlPlaneConfig is what `talosctl gen config` makes for a control plane, with apiServer extraArgs.
func controlPlaneConfig(t *testing.T, extraArgs map[string]string) config.Provider {
	t.Helper()

	cfg := generatedConfig(t, machine.TypeControlPlane)
	cfg.RawV1Alpha1().ClusterConfig.APIServerConfig.ExtraArgsConfig = extraArgs

	return cfg
}

func flagValue(args []string, key string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+key+"="); ok {
			return v, true
		}
	}

	return "", false
}

// manageAPIServer's merge policies: lists grow, denied flags refuse the config, others are replaced.
func TestAPIServerExtraArgs(t *testing.T) {
	args, err := apiServerArgs(controlPlaneConfig(t, map[string]string{
		"enable-admission-plugins": "AlwaysPullImages",
		"feature-gates":            "InPlacePodVerticalScaling=true",
		"audit-log-maxage":         "7",
	}), "/s", "/c", "/a", "127.0.131.11")
	if err != nil {
		t.Fatal(err)
	}

	for key, want := range map[string]string{
		"enable-admission-plugins": "NodeRestriction,AlwaysPullImages",
		"feature-gates":            "InPlacePodVerticalScaling=true",
		"audit-log-maxage":         "7",
		"authorization-config":     "/c/authorization-config.yaml",
		"advertise-address":        "127.0.131.11",
	} {
		if got, _ := flagValue(args, key); got != want {
			t.Errorf("--%s=%q, want %q", key, got, want)
		}
	}

	_, err = apiServerArgs(controlPlaneConfig(t, map[string]string{"etcd-servers": "https://elsewhere:2379"}), "/s", "/c", "/a", "127.0.131.11")

	var denied *argsbuilder.DenyListError
	if !errors.As(err, &denied) {
		t.Errorf("etcd-servers in extraArgs: %v, want Talos's deny-list error", err)
	}
}

// handleKubeAPIServerAuthorizationFlags: authorization-mode in extraArgs keeps the flag (Node,RBAC first) and
// drops the config file.
func TestAPIServerAuthorizationMode(t *testing.T) {
	args, err := apiServerArgs(controlPlaneConfig(t, map[string]string{"authorization-mode": "Webhook"}),
		"/s", "/c", "/a", "127.0.131.11")
	if err != nil {
		t.Fatal(err)
	}

	if got, _ := flagValue(args, "authorization-mode"); got != "Node,RBAC,Webhook" {
		t.Errorf("--authorization-mode=%q", got)
	}

	if _, ok := flagValue(args, "authorization-config"); ok {
		t.Error("--authorization-config beside --authorization-mode")
	}

	if !slices.Contains(args, "--anonymous-auth=false") {
		t.Error("anonymous requests allowed")
	}
}

// manageControllerManager and manageScheduler: the controller list grows, the scheduler's config cannot be replaced.
func TestControllerManagerAndSchedulerExtraArgs(t *testing.T) {
	cfg := controlPlaneConfig(t, nil)
	cfg.RawV1Alpha1().ClusterConfig.ControllerManagerConfig.ExtraArgsConfig = map[string]string{"controllers": "-bootstrapsigner"}
	cfg.RawV1Alpha1().ClusterConfig.SchedulerConfig.ExtraArgsConfig = map[string]string{"config": "/elsewhere.yaml"}

	args, err := controllerManagerArgs(cfg, "/cm")
	if err != nil {
		t.Fatal(err)
	}

	if got, _ := flagValue(args, "controllers"); got != "*,tokencleaner,-bootstrapsigner" {
		t.Errorf("--controllers=%q", got)
	}

	if args[0] != "--use-service-account-credentials" {
		t.Errorf("first flag %q", args[0])
	}

	var denied *argsbuilder.DenyListError
	if _, err = schedulerArgs(cfg, "/s"); !errors.As(err, &denied) {
		t.Errorf("config in the scheduler's extraArgs: %v, want Talos's deny-list error", err)
	}
}
