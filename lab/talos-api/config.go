package main

// machined's ApplyConfiguration for a configured machine (v1.10.3
// internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:169-314): the config is loaded, validated and
// judged here with Talos's own code (configloader, Validate, RuntimeValidate, configdiff); what applying it does to the
// machine (live, staged, after a reboot, tried and rolled back) is the model's (lab/machine-api/config.ts).

import (
	"context"
	"fmt"
	"reflect"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configdiff"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/container"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/constants"
)

// installedMetal is the validation mode of a machine that runs installed: metal, but the install checks (disk
// selector) no longer apply (v1alpha1_server.go:150-164 modeWrapper: RequiresInstall && !installed).
type installedMetal struct{ metalMode }

func (installedMetal) RequiresInstall() bool { return false }

// machineConfigs is what the model says the machine runs (active) and has saved (persistent).
type machineConfigs struct {
	Active     string `json:"active"`
	Persistent string `json:"persistent"`
}

func (s *machinedServer) activeConfig(ctx context.Context) (config.Provider, error) {
	var cfgs machineConfigs
	if err := s.nodes.model.NodeCall(ctx, s.name, "MachineConfigs", struct{}{}, &cfgs); err != nil {
		return nil, grpcError(err)
	}

	return configloader.NewFromBytes([]byte(cfgs.Active))
}

// applyEffect is what the model is asked to do once machined has decided: the lab's mode names.
type applyEffect struct {
	Config       string `json:"config"`
	Mode         string `json:"mode"`
	TryTimeoutMs int64  `json:"tryTimeoutMs,omitempty"`
}

//nolint:gocyclo,cyclop
func (s *machinedServer) ApplyConfiguration(ctx context.Context, in *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	mode := in.Mode
	modeDetails := "Applied configuration with a reboot"
	modeErr := ""

	// every mode but try cancels a pending try rollback, before anything else (v1alpha1_server.go:174-176)
	if mode != machine.ApplyConfigurationRequest_TRY {
		if err := s.nodes.model.NodeCall(ctx, s.name, "CancelConfigRollback", struct{}{}, nil); err != nil {
			return nil, grpcError(err)
		}
	}

	cfg, err := configloader.NewFromBytes(in.GetData())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}

	// v1alpha1_server.go:183-188
	if cfg.RawV1Alpha1() == nil {
		return nil, status.Error(codes.InvalidArgument,
			"the applied machine configuration doesn't contain v1alpha1 config, did you mean to patch the machine config instead?")
	}

	validationMode := installedMetal{}

	warnings, err := cfg.Validate(validationMode)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}

	// an installed machine's runtime checks need no resources (v1alpha1_validation.go:955 RuntimeValidate: the disk
	// selector is matched only when the mode requires an install)
	runtimeWarnings, err := cfg.RuntimeValidate(ctx, nil, validationMode)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}

	warnings = append(warnings, runtimeWarnings...)

	current, err := s.activeConfig(ctx)
	if err != nil {
		return nil, err
	}

	// v1alpha1_server.go:206-232
	switch mode { //nolint:exhaustive
	case machine.ApplyConfigurationRequest_TRY, machine.ApplyConfigurationRequest_NO_REBOOT:
		if err := canApplyImmediate(current, cfg); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}

		modeDetails = "Applied configuration without a reboot"
	case machine.ApplyConfigurationRequest_STAGED:
		modeDetails = "Staged configuration to be applied after the next reboot"
	case machine.ApplyConfigurationRequest_AUTO:
		if err := canApplyImmediate(current, cfg); err != nil {
			mode = machine.ApplyConfigurationRequest_REBOOT
			modeErr = ": " + err.Error()
		} else {
			mode = machine.ApplyConfigurationRequest_NO_REBOOT
			modeDetails = "Applied configuration without a reboot"
		}
	}

	// v1alpha1_server.go:234-252 and generateDiff (:316-327): the diff against the running config, nothing applied
	if in.DryRun {
		diff, err := configdiff.DiffToString(current, cfg)
		if err != nil {
			return nil, fmt.Errorf("failed to generate diff: %w", err)
		}

		if diff == "" {
			diff = "No changes."
		}

		return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{
			Mode:        mode,
			ModeDetails: fmt.Sprintf("Dry run summary:\n%s (skipped in dry-run).\nConfig diff:\n\n%s", modeDetails, diff),
		}}}, nil
	}

	effect := applyEffect{Config: string(in.GetData())}

	switch mode { //nolint:exhaustive
	case machine.ApplyConfigurationRequest_TRY:
		timeout := constants.ConfigTryTimeout
		if in.TryModeTimeout != nil {
			timeout = in.TryModeTimeout.AsDuration()
		}

		modeDetails += fmt.Sprintf("\nThe config is applied in 'try' mode and will be automatically reverted back in %s", timeout)
		effect.Mode, effect.TryTimeoutMs = "try", timeout.Milliseconds()
	case machine.ApplyConfigurationRequest_NO_REBOOT, machine.ApplyConfigurationRequest_STAGED, machine.ApplyConfigurationRequest_REBOOT:
		effect.Mode = modeName(mode)
	default:
		return nil, fmt.Errorf("incorrect mode '%s' specified for the apply config call", mode.String())
	}

	if err := s.nodes.model.NodeCall(ctx, s.name, "ApplyConfiguration", effect, nil); err != nil {
		return nil, grpcError(err)
	}

	return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{
		Mode:        mode,
		Warnings:    warnings,
		ModeDetails: modeDetails + modeErr,
	}}}, nil
}

// canApplyImmediate: a new config applies without a reboot when it differs from the running one only in the sections
// machined reconfigures live (v1.10.3 internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_runtime.go:118-214,
// CanApplyImmediate). The live sections of the new config are set to the running ones; anything left that differs
// needs a reboot, and the error shows that remainder as a diff.
func canApplyImmediate(currentCfg, newCfg config.Provider) error {
	cur := currentCfg.RawV1Alpha1()
	if cur == nil {
		return fmt.Errorf("current config is not v1alpha1")
	}

	next := newCfg.RawV1Alpha1()
	if next == nil {
		return fmt.Errorf("new config is not v1alpha1")
	}

	next = next.DeepCopy()
	keepLiveSections(cur, next)

	if reflect.DeepEqual(cur, next) {
		return nil
	}

	diff, err := configdiff.DiffToString(container.NewV1Alpha1(cur), container.NewV1Alpha1(next))
	if err != nil {
		return fmt.Errorf("error calculating diff: %w", err)
	}

	return fmt.Errorf("this config change can't be applied in immediate mode\ndiff:\n%s", diff)
}

// keepLiveSections copies into next what machined changes live: .debug, .cluster, and of .machine: ca, acceptedCAs,
// time, certSANs, install, network, sysfs, sysctls, logging, controlplane, kubelet, kernel, registries, pods,
// seccompProfiles, nodeAnnotations, nodeLabels, nodeTaints, and the features kubernetesTalosAPIAccess, kubePrism,
// hostDNS, imageCache, nodeAddressSortAlgorithm (the list in v1alpha1_runtime.go:134-160).
func keepLiveSections(cur, next *v1alpha1.Config) {
	next.ConfigDebug = cur.ConfigDebug
	next.ClusterConfig = cur.ClusterConfig

	c, n := cur.MachineConfig, next.MachineConfig
	if c == nil || n == nil {
		return
	}

	n.MachineCA, n.MachineAcceptedCAs, n.MachineTime, n.MachineCertSANs = c.MachineCA, c.MachineAcceptedCAs, c.MachineTime, c.MachineCertSANs
	n.MachineInstall, n.MachineNetwork, n.MachineSysfs, n.MachineSysctls = c.MachineInstall, c.MachineNetwork, c.MachineSysfs, c.MachineSysctls
	n.MachineLogging, n.MachineControlPlane, n.MachineKubelet, n.MachineKernel = c.MachineLogging, c.MachineControlPlane, c.MachineKubelet, c.MachineKernel
	n.MachineRegistries, n.MachinePods, n.MachineSeccompProfiles = c.MachineRegistries, c.MachinePods, c.MachineSeccompProfiles
	n.MachineNodeAnnotations, n.MachineNodeLabels, n.MachineNodeTaints = c.MachineNodeAnnotations, c.MachineNodeLabels, c.MachineNodeTaints

	if c.MachineFeatures != nil && n.MachineFeatures != nil {
		cf, nf := c.MachineFeatures, n.MachineFeatures
		nf.KubernetesTalosAPIAccessConfig, nf.KubePrismSupport, nf.HostDNSSupport = cf.KubernetesTalosAPIAccessConfig, cf.KubePrismSupport, cf.HostDNSSupport
		nf.ImageCacheSupport, nf.FeatureNodeAddressSortAlgorithm = cf.ImageCacheSupport, cf.FeatureNodeAddressSortAlgorithm
	}
}
