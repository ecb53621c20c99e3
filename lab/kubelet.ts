// The lab kubelet's CPU and memory manager checkpoints (/var/lib/kubelet/{cpu,memory}_manager_state in the node's
// sysroot) and the start-time validation that makes a real kubelet refuse to start:
//
// - Talos removes cpu_manager_state only when the cpuManagerPolicy NAME changes ("none" and "" are the same) and
//   never touches memory_manager_state (internal/app/machined/pkg/controllers/k8s/kubelet_service.go at v1.10.3,
//   handlePolicyChange / equalPolicy); an upgrade or a reboot keeps /var, and both checkpoints with it.
// - kubelet (v1.33) then restores each checkpoint: a policy that differs from the checkpoint's fails
//   ("could not restore state from checkpoint: ... please drain this node and delete the ... checkpoint file",
//   pkg/kubelet/cm/{cpumanager,memorymanager}/state/state_checkpoint.go), so does a checksum that does not match
//   ("checkpoint is corrupted"); the static CPU policy requires the reserved CPUs to be in the checkpoint's
//   defaultCpuSet (cpumanager/policy_static.go validateState: "not all reserved cpus"); the Static memory policy
//   requires the checkpoint's machine state to equal the machine's: every NUMA node's MemTotal and huge page totals
//   and the reservations (lab/memory-manager.ts, memorymanager/policy_static.go validateState: "[memorymanager] the
//   expected machine state is different from the real one"). So after a huge page change, and after a boot that
//   moved memory between NUMA nodes (lab/sysroot.ts bootShiftKiB), a checkpoint from before fails.
//   container_manager_linux.go wraps them ("start cpu manager error: %w", "start memory manager error: %w") and
//   kubelet exits ("Failed to start ContainerManager"); Talos restarts it forever.
// - What machine.files writes at boot is there before kubelet's first start of that boot (lab/user-files.ts).
//
// - The static CPU policy also requires defaultCpuSet plus the assignments to be exactly the CPUs kubelet sees
//   (cpumanager/policy_static.go validateState :255-267: "current set of available CPUs … doesn't match with CPUs in
//   state …"); here those are the hardware's CPUs less what the boot's nosmt, maxcpus=, nr_cpus= took
//   (lab/cpu-manager.ts onlineCpus), so a boot that changes them fails a checkpoint from before unless machine.files
//   rewrote it empty (config/kubelet-policy.ts cpuManagerResetFile).
//
// The lab kubelet's CPU manager starts with every CPU in defaultCpuSet; the exclusive CPUs it then gives Guaranteed
// containers (lab/containers.ts) leave it, so a reservedSystemCPUs change passes when no pinned container holds one
// of the new reserved CPUs, as on a real node whose Guaranteed pods were drained first.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseCpuList } from '../lib/host/numa.ts'
import type { Hardware } from './state.ts'
import type { MachineFile } from './machine-config.ts'
import {
  cpuCheckpointChecksum,
  marshalCpuCheckpoint,
  onlineCpus,
  validateCpuState,
  type CpuCheckpoint,
} from './cpu-manager.ts'
import {
  checkpointChecksum,
  defaultMachineState,
  marshalCheckpoint,
  readNumaNodes,
  reservedFromConfig,
  validateState,
  type MemoryManagerCheckpoint,
} from './memory-manager.ts'
import { writeUserFiles } from './user-files.ts'
import { currentBoot } from './sysroot.ts'

export const CPU_STATE = '/var/lib/kubelet/cpu_manager_state'
export const MEMORY_STATE = '/var/lib/kubelet/memory_manager_state'

type Obj = Record<string, any>

const read = <T>(file: string): T | undefined =>
  existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined
const write = (file: string, text: string) => {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, text)
}

/** Talos's equalPolicy: "none" and "" are the same CPU manager policy. */
const samePolicy = (a: string, b: string) => (a === 'none' ? '' : a) === (b === 'none' ? '' : b)

const restoreError = (why: string) =>
  `start memory manager error: could not restore state from checkpoint: ${why}, please drain this node and delete the memory manager checkpoint file "${MEMORY_STATE}" before restarting Kubelet`

/**
 * The memory manager's Start (memory_manager.go:185-207): restore the checkpoint (a missing one is written empty),
 * then the policy's Start; the Static policy validates the machine state and stores the machine's when the
 * checkpoint had none. Returns kubelet's error, or undefined when it started (the checkpoint is then on disk).
 */
function startMemoryManager(root: string, policy: string, extraConfig: Obj): string | undefined {
  const file = join(root, MEMORY_STATE)
  let cp: MemoryManagerCheckpoint = { policyName: policy, machineState: {}, checksum: 0 }
  if (!existsSync(file)) write(file, marshalCheckpoint(cp))
  else {
    try {
      // NewMemoryManagerCheckpoint starts with an empty machine state; the JSON overrides what it has
      cp = {
        machineState: {},
        ...(JSON.parse(readFileSync(file, 'utf8')) as Partial<MemoryManagerCheckpoint>),
      } as MemoryManagerCheckpoint
    } catch (e) {
      return restoreError((e as Error).message)
    }
    if (checkpointChecksum(cp) !== cp.checksum) return restoreError('checkpoint is corrupted')
    if (cp.policyName !== policy)
      return restoreError(
        `[memorymanager] configured policy "${policy}" differs from state checkpoint policy "${cp.policyName}"`,
      )
  }
  if (policy !== 'Static') return undefined
  const nodes = readNumaNodes(root)
  const machine = defaultMachineState(nodes, reservedFromConfig(extraConfig.reservedMemory, nodes))
  const v = validateState(cp, machine)
  if ('error' in v) return `start memory manager error: ${v.error}`
  if (v.state !== cp.machineState) write(file, marshalCheckpoint({ ...cp, machineState: v.state }))
  return undefined
}

const cpuRestoreError = (why: string) =>
  `start cpu manager error: could not restore state from checkpoint: ${why}, please drain this node and delete the CPU manager checkpoint file "${CPU_STATE}" before restarting Kubelet`

/** The CPUs kubelet's CPU manager sees on this node in this boot: the hardware's, less what /proc/cmdline took. */
export function kubeletCpus(root: string, hw: Hardware): number[] {
  const f = join(root, 'proc/cmdline')
  return onlineCpus(hw, existsSync(f) ? readFileSync(f, 'utf8') : '')
}

/**
 * The CPU manager's Start (cpu_manager.go :220-241): restore the checkpoint (a missing one is written empty,
 * state_checkpoint.go :101-102), then the static policy's validateState, which initialises an empty one with every
 * CPU and otherwise compares (lab/cpu-manager.ts). Returns kubelet's error, or undefined (the checkpoint is on disk).
 */
function startCpuManager(root: string, hw: Hardware, policy: string, extraConfig: Obj): string | undefined {
  const file = join(root, CPU_STATE)
  let cp: CpuCheckpoint = { policyName: policy, defaultCpuSet: '', checksum: 0 }
  if (!existsSync(file)) write(file, marshalCpuCheckpoint(cp))
  else {
    try {
      cp = JSON.parse(readFileSync(file, 'utf8')) as CpuCheckpoint
    } catch (e) {
      return cpuRestoreError((e as Error).message)
    }
    // checkpoint.go VerifyChecksum (:125-135): 0 is accepted, for checkpoints of the old file backend
    if (cp.checksum !== 0 && cpuCheckpointChecksum(cp) !== cp.checksum)
      return cpuRestoreError('checkpoint is corrupted')
    if (cp.policyName !== policy)
      return cpuRestoreError(`configured policy "${policy}" differs from state checkpoint policy "${cp.policyName}"`)
  }
  if (policy !== 'static') return undefined
  const reserved = parseCpuList(String(extraConfig.reservedSystemCPUs ?? ''))
  const v = validateCpuState(cp, kubeletCpus(root, hw), reserved)
  if ('error' in v) return `start cpu manager error: ${v.error}`
  if (v.defaultCpuSet !== cp.defaultCpuSet) writeCpuCheckpoint(root, policy, v.defaultCpuSet, cp.entries)
  return undefined
}

/**
 * What happens when kubelet (re)starts with this extraConfig on this node: Talos's cpu_manager_state removal first,
 * then the CPU manager's and the memory manager's checkpoints, in kubelet's order (container_manager_linux.go
 * :586-595). Returns kubelet's error, or undefined (the checkpoints are then written).
 */
export function startKubelet(root: string, hw: Hardware, extraConfig: Obj): string | undefined {
  const cpuPolicy = String(extraConfig.cpuManagerPolicy ?? 'none')
  const memPolicy = String(extraConfig.memoryManagerPolicy ?? 'None')
  const cpuFile = join(root, CPU_STATE)
  const cpu = read<{ policyName?: string }>(cpuFile)
  if (cpu && !samePolicy(String(cpu.policyName ?? ''), cpuPolicy)) rmSync(cpuFile) // Talos: "cpuManagerPolicy changed"
  return startCpuManager(root, hw, cpuPolicy, extraConfig) ?? startMemoryManager(root, memPolicy, extraConfig)
}

/** /var/lib/kubelet/cpu_manager_state as kubelet marshals it: the policy, the shared pool, the exclusive assignments. */
export function writeCpuCheckpoint(
  root: string,
  policyName: string,
  defaultCpuSet: string,
  entries: Record<string, Record<string, string>> = {},
): void {
  const text = marshalCpuCheckpoint({ policyName, defaultCpuSet, entries })
  const file = join(root, CPU_STATE)
  if (!existsSync(file) || readFileSync(file, 'utf8') !== text) write(file, text)
}

/**
 * machined's userSetup phase, once per boot: the first kubelet start of a boot (install, reboot, upgrade, reset,
 * power on: each has just booted the sysroot, lab/sysroot.ts applyBootParams) comes after machine.files were
 * written; a restart for a config change within the boot does not write them again. Returns the phase's error.
 */
function userSetupOnce(nodeDir: string, root: string, files: MachineFile[]): string | undefined {
  const marker = join(nodeDir, 'user-files.boot')
  const boot = String(currentBoot(root))
  if (existsSync(marker) && readFileSync(marker, 'utf8') === boot) return undefined
  writeFileSync(marker, boot)
  const errors = writeUserFiles(root, files)
  return errors.length
    ? `the boot stopped in phase userSetup (services, kubelet included, never started): writeUserFiles failed: ${errors.join('; ')}`
    : undefined
}

/** (Re)start the lab node's kubelet with its current machine config; records kubelet's error on the node. */
export async function runKubelet(name: string): Promise<string | undefined> {
  const { loadNode, paths, updateNode } = await import('./state.ts')
  const { parseMachineConfig } = await import('./machine-config.ts')
  const n = loadNode(name)
  if (!existsSync(paths.config(name))) return undefined
  const cfg = parseMachineConfig(readFileSync(paths.config(name), 'utf8'), paths.config(name))
  const err =
    userSetupOnce(paths.nodeDir(name), paths.root(name), cfg.files) ??
    startKubelet(paths.root(name), n.hardware, cfg.kubeletExtraConfig as Obj)
  updateNode(name, (x) => {
    if (err) x.kubeletError = err
    else delete x.kubeletError
  })
  appendFileSync(join(paths.nodeDir(name), 'kubelet.log'), kubeletStartLine(Date.now(), err) + '\n')
  return err
}

/**
 * What kubelet logs as it starts: its sync loop, or the error it exits with; in the JSON format Talos runs kubelet
 * with (v1.10.3 internal/app/machined/pkg/controllers/k8s/kubelet_spec.go:383, Logging.Format "json": ts in
 * milliseconds since the epoch, caller, msg, v, then the key/values).
 */
export function kubeletStartLine(ts: number, err: string | undefined): string {
  if (err)
    return JSON.stringify({ ts, caller: 'kubelet/kubelet.go:1678', msg: 'Failed to start ContainerManager', v: 0, err })
  return JSON.stringify({ ts, caller: 'kubelet/kubelet.go:2468', msg: 'Starting kubelet main sync loop', v: 0 })
}

/** `reset --system-labels-to-wipe EPHEMERAL`: /var is reformatted, the kubelet checkpoints with it. */
export function wipeEphemeralKubeletState(root: string): void {
  rmSync(join(root, 'var/lib/kubelet'), { recursive: true, force: true })
}
