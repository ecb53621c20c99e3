// The lab kubelet's CPU and memory manager checkpoints (/var/lib/kubelet/{cpu,memory}_manager_state in the node's
// sysroot) and the start-time validation that makes a real kubelet refuse to start after a policy change:
//
// - Talos removes cpu_manager_state only when the cpuManagerPolicy NAME changes ("none" and "" are the same) and
//   never touches memory_manager_state (internal/app/machined/pkg/controllers/k8s/kubelet_service.go at v1.10.3,
//   handlePolicyChange / equalPolicy).
// - kubelet (v1.33) then restores each checkpoint: a policy that differs from the checkpoint's fails
//   ("could not restore state from checkpoint: ... please drain this node and delete the ... checkpoint file",
//   pkg/kubelet/cm/{cpumanager,memorymanager}/state/state_checkpoint.go); the static CPU policy requires the reserved
//   CPUs to be in the checkpoint's defaultCpuSet (cpumanager/policy_static.go validateState: "not all reserved cpus");
//   the Static memory policy requires the checkpoint's machine state to equal the one computed from today's
//   reservations (memorymanager/policy_static.go validateState: "[memorymanager] the expected machine state is
//   different from the real one", "change of kubelet system-reserved, kube-reserved or pre-reserved-memory-zone
//   parameters"). container_manager_linux.go wraps them ("start cpu manager error: %w", "start memory manager
//   error: %w") and kubelet exits ("Failed to start ContainerManager"); Talos restarts it forever.
//
// The lab kubelet pins no exclusive CPUs, so its defaultCpuSet is every CPU: a reservedSystemCPUs change alone
// passes, as it does on a real node whose Guaranteed pods were drained first.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { formatCpuList, parseCpuList } from '../lib/host/numa.ts'
import { quantityValue } from '../lib/kube/quantity.ts'
import type { Hardware } from './state.ts'

export const CPU_STATE = '/var/lib/kubelet/cpu_manager_state'
export const MEMORY_STATE = '/var/lib/kubelet/memory_manager_state'

type Obj = Record<string, any>

interface CpuCheckpoint {
  policyName: string
  defaultCpuSet: string
  checksum: number
}
interface MemoryCheckpoint {
  policyName: string
  /** NUMA node → bytes reserved for the system (the Static policy's machine state, what the lab compares). */
  machineState: Record<string, { memoryMap: { memory: { systemReserved: number } } }>
  checksum: number
}

const read = <T>(file: string): T | undefined =>
  existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined
const write = (file: string, v: unknown) => {
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(v))
}
// kubelet's checkpoints carry a checksum of their content; the lab's only needs to be stable
const checksum = (v: unknown) => [...JSON.stringify(v)].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7)

/** Talos's equalPolicy: "none" and "" are the same CPU manager policy. */
const samePolicy = (a: string, b: string) => (a === 'none' ? '' : a) === (b === 'none' ? '' : b)

function memoryMachineState(cfg: Obj, hw: Hardware): MemoryCheckpoint['machineState'] {
  const out: MemoryCheckpoint['machineState'] = {}
  for (let n = 0; n < hw.numaCpus.length; n++) out[n] = { memoryMap: { memory: { systemReserved: 0 } } }
  for (const r of (cfg.reservedMemory ?? []) as Obj[]) {
    const bytes = quantityValue(String(r.limits?.memory ?? '0')) ?? 0
    if (out[r.numaNode]) out[r.numaNode]!.memoryMap.memory.systemReserved = bytes
  }
  return out
}

/**
 * What happens when kubelet (re)starts with this extraConfig on this node: the checkpoints are checked (and Talos's
 * cpu_manager_state removal applied first); on success they are written. Returns kubelet's error, or undefined.
 */
export function startKubelet(root: string, hw: Hardware, extraConfig: Obj): string | undefined {
  const cpuPolicy = String(extraConfig.cpuManagerPolicy ?? 'none')
  const memPolicy = String(extraConfig.memoryManagerPolicy ?? 'None')
  const cpuFile = join(root, CPU_STATE)
  const memFile = join(root, MEMORY_STATE)

  let cpu = read<CpuCheckpoint>(cpuFile)
  if (cpu && !samePolicy(cpu.policyName, cpuPolicy)) {
    rmSync(cpuFile) // Talos: "cpuManagerPolicy changed"
    cpu = undefined
  }
  const allCpus = formatCpuList(hw.numaCpus.flat().sort((a, b) => a - b))
  if (cpu && cpuPolicy === 'static') {
    const reserved = parseCpuList(String(extraConfig.reservedSystemCPUs ?? ''))
    const deflt = new Set(parseCpuList(cpu.defaultCpuSet))
    if (!reserved.every((c) => deflt.has(c)))
      return `start cpu manager error: not all reserved cpus: "${formatCpuList(reserved)}" are present in defaultCpuSet: "${cpu.defaultCpuSet}"`
  }

  const mem = read<MemoryCheckpoint>(memFile)
  const expected = memPolicy === 'Static' ? memoryMachineState(extraConfig, hw) : {}
  if (mem && mem.policyName !== memPolicy)
    return `start memory manager error: could not restore state from checkpoint: [memorymanager] configured policy "${memPolicy}" differs from state checkpoint policy "${mem.policyName}", please drain this node and delete the memory manager checkpoint file "${MEMORY_STATE}" before restarting Kubelet`
  if (mem && memPolicy === 'Static' && JSON.stringify(mem.machineState) !== JSON.stringify(expected))
    return 'start memory manager error: [memorymanager] the expected machine state is different from the real one'

  if (!cpu) {
    const c = { policyName: cpuPolicy, defaultCpuSet: cpuPolicy === 'static' ? allCpus : '' }
    write(cpuFile, { ...c, checksum: checksum(c) })
  }
  if (!mem) {
    const m = { policyName: memPolicy, machineState: expected }
    write(memFile, { ...m, checksum: checksum(m) })
  }
  return undefined
}

/** (Re)start the lab node's kubelet with its current machine config; records kubelet's error on the node. */
export async function runKubelet(name: string): Promise<string | undefined> {
  const { loadNode, paths, updateNode } = await import('./state.ts')
  const { parseMachineConfig } = await import('./machine-config.ts')
  const n = loadNode(name)
  if (!existsSync(paths.config(name))) return undefined
  const cfg = parseMachineConfig(readFileSync(paths.config(name), 'utf8'), paths.config(name))
  const err = startKubelet(paths.root(name), n.hardware, cfg.kubeletExtraConfig as Obj)
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
