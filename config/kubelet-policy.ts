// Kubelet resource-manager settings that a running node cannot take by a config apply alone. Talos restarts kubelet
// with the new KubeletConfiguration, removing /var/lib/kubelet/cpu_manager_state only when the cpuManagerPolicy NAME
// changes and never memory_manager_state (siderolabs/talos v1.10.3 internal/app/machined/pkg/controllers/k8s/
// kubelet_service.go, handlePolicyChange). kubelet then validates its checkpoints and refuses to start
// (kubernetes pkg/kubelet/cm/memorymanager/policy_static.go validateState, state/state_checkpoint.go restoreState;
// cpumanager/policy_static.go validateState): the node goes NotReady until the checkpoint is gone.
import { parseAllDocuments } from 'yaml'
import { quantityValue } from '../lib/kube/quantity.ts'
import type { InventoryNode } from './inventory.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- machine-config documents are walked by path; the schema checked their shape
type Obj = Record<string, any>

interface KubeletStateChange {
  field: string
  from: string
  to: string
  /** What kubelet says when it refuses to start. */
  kubeletError: string
}

function extraConfig(text: string): Obj {
  for (const d of parseAllDocuments(text)) {
    const v = d.toJS() as Obj | null
    if (v?.version === 'v1alpha1') return v.machine?.kubelet?.extraConfig ?? {}
  }
  return {}
}

const reservedMemory = (c: Obj) =>
  ((c.reservedMemory ?? []) as Obj[])
    .map((r) => ({
      numaNode: Number(r.numaNode),
      bytes: quantityValue(String(r.limits?.memory ?? '0')) ?? NaN,
      text: `${r.numaNode}:${r.limits?.memory}`,
    }))
    .sort((a, b) => a.numaNode - b.numaNode)

/** kubelet's memory manager checkpoint (its root dir, /var/lib/kubelet, is what Talos mounts into kubelet). */
export const MEMORY_MANAGER_STATE = '/var/lib/kubelet/memory_manager_state'

/**
 * The Static policy's checkpoint with no machine state, byte for byte what kubelet v1.33.1 writes when the file is
 * missing (kubernetes pkg/kubelet/cm/memorymanager/state/state_checkpoint.go restoreState → storeState;
 * checkpoint.go MarshalCheckpoint: the checksum is fnv32a of the go-spew dump of the checkpoint, so it depends only on
 * the policy name and the checkpoint's Go types; test/fixtures/kubelet/ has the file kubelet's code wrote). At start,
 * policy_static.go validateState (:595-605) takes an empty machine state as a fresh one: it computes the machine's
 * state (memory and huge pages per NUMA node, minus reservedMemory) and stores it, instead of comparing.
 */
export const EMPTY_STATIC_MEMORY_CHECKPOINT = '{"policyName":"Static","machineState":{},"checksum":3940083781}'

/**
 * The machine.files entry that gives kubelet's Static memory manager a fresh checkpoint at every boot. Talos writes
 * machine.files in every boot's userSetup phase, before the CRI service kubelet depends on starts (siderolabs/talos
 * v1.10.3 v1alpha1_sequencer.go Boot :221-237, v1alpha1_sequencer_tasks.go WriteUserFiles :542-655, services/
 * kubelet.go DependsOn :104); `create` writes the file whether or not it exists (`overwrite` would fail the first
 * boot: "file must exist"). A checkpoint from before the boot is therefore never compared with a machine whose huge
 * pages changed (an upgrade with new kernel args) or whose NUMA nodes' MemTotal moved (kubernetes issue 131253), two
 * differences validateState refuses ("the expected machine state is different from the real one"). Containers do
 * not survive a reboot, so the assignments the old checkpoint held are not needed: kubelet admits the pods again.
 * A kubelet restart within a boot keeps its checkpoint, as it must.
 */
export const memoryManagerResetFile = () => ({
  path: MEMORY_MANAGER_STATE,
  op: 'create',
  permissions: 0o600,
  content: EMPTY_STATIC_MEMORY_CHECKPOINT,
})

/** kubelet's CPU manager checkpoint, next to the memory manager's. */
export const CPU_MANAGER_STATE = '/var/lib/kubelet/cpu_manager_state'

/**
 * The static CPU policy's checkpoint with no CPUs, byte for byte what kubelet v1.33.1 writes when the file is missing
 * (kubernetes pkg/kubelet/cm/cpumanager/state/state_checkpoint.go restoreState :101-102 → storeState :143-156:
 * NewCPUManagerCheckpoint, the policy name, the empty defaultCpuSet; checkpoint.go MarshalCheckpoint :81-86, the
 * `entries` map is omitempty; the checksum is fnv32a of the go-spew dump, checkpointmanager/checksum/checksum.go).
 * Produced by kubelet's own code: a throw-away Go program in a module with tools/kubernetes's go.mod and replaces
 * called state.NewCPUManagerCheckpoint(), set PolicyName "static", MarshalCheckpoint() and printed it
 * (test/fixtures/kubelet/cpu_manager_state.empty-static.json; lab/cpu-manager.ts cpuCheckpointChecksum computes
 * the same checksum, test/unit/lab-cpu-manager.test.ts asserts both). At start, cpumanager/policy_static.go
 * validateState (:211-219) takes an empty defaultCpuSet without assignments as a fresh state: it puts every CPU
 * kubelet sees in the shared pool and stores it, instead of comparing.
 */
export const EMPTY_STATIC_CPU_CHECKPOINT = '{"policyName":"static","defaultCpuSet":"","checksum":3083571066}'

/**
 * The machine.files entry that gives kubelet's static CPU manager a fresh checkpoint at every boot, written as the
 * memory manager's is (memoryManagerResetFile). Without it a checkpoint from before the boot meets a machine whose
 * CPUs changed: `nosmt`, `maxcpus=` or `nr_cpus=` in validator.kernelArgs (applied by 09's upgrade, /var kept), a
 * BIOS SMT or NPS change, a board swap. policy_static.go validateState (:255-266) then refuses it
 * ("current set of available CPUs … doesn't match with CPUs in state …"), cpu_manager.go Start (:229-236) runs it
 * before any stale state is removed, kubelet exits and Talos removes the file only when the policy NAME changes
 * (v1.10.3 controllers/k8s/kubelet_service.go handlePolicyChange :224-253; the "static" written here equals the
 * config's, so it stays). Wiping it at boot is safe: no container survives a reboot, so the exclusive CPUs the old
 * checkpoint assigned belong to nothing; kubelet admits the pods again and the static policy gives them CPUs anew.
 * A kubelet restart within a boot (a config apply) keeps its checkpoint, as it must: the containers it pinned still
 * run, so a LIVE reservedSystemCPUs change still needs kubeletStateProcedure.
 */
export const cpuManagerResetFile = () => ({
  path: CPU_MANAGER_STATE,
  op: 'create',
  permissions: 0o600,
  content: EMPTY_STATIC_CPU_CHECKPOINT,
})

/** Changes between the running and the rendered config that leave kubelet unable to start with its checkpoints. */
export function kubeletStateChanges(runningText: string, renderedText: string): KubeletStateChange[] {
  const a = extraConfig(runningText)
  const b = extraConfig(renderedText)
  const out: KubeletStateChange[] = []
  const cpuA = String(a.cpuManagerPolicy ?? 'none')
  const cpuB = String(b.cpuManagerPolicy ?? 'none')
  // a policy NAME change is handled: Talos removes cpu_manager_state (equalPolicy treats "none" as ""). A
  // reservedSystemCPUs change applied to a running node restarts kubelet within the boot, which keeps its checkpoint
  // (the boot-time reset, cpuManagerResetFile, does not run): its pinned containers' CPUs may be the new reserved ones.
  if (
    cpuA === 'static' &&
    cpuB === 'static' &&
    String(a.reservedSystemCPUs ?? '') !== String(b.reservedSystemCPUs ?? '')
  )
    out.push({
      field: 'reservedSystemCPUs',
      from: String(a.reservedSystemCPUs ?? ''),
      to: String(b.reservedSystemCPUs ?? ''),
      kubeletError: `start cpu manager error: not all reserved cpus: "${b.reservedSystemCPUs}" are present in defaultCpuSet (while a Guaranteed pod holds any of them)`,
    })
  const memA = String(a.memoryManagerPolicy ?? 'None')
  const memB = String(b.memoryManagerPolicy ?? 'None')
  if (memA !== memB)
    out.push({
      field: 'memoryManagerPolicy',
      from: memA,
      to: memB,
      kubeletError: `could not restore state from checkpoint: [memorymanager] configured policy "${memB}" differs from state checkpoint policy "${memA}"`,
    })
  else if (memB === 'Static') {
    const ra = reservedMemory(a)
    const rb = reservedMemory(b)
    if (JSON.stringify(ra.map((r) => [r.numaNode, r.bytes])) !== JSON.stringify(rb.map((r) => [r.numaNode, r.bytes])))
      out.push({
        field: 'reservedMemory',
        from: ra.map((r) => r.text).join(',') || '(none)',
        to: rb.map((r) => r.text).join(',') || '(none)',
        kubeletError: '[memorymanager] the expected machine state is different from the real one',
      })
  }
  return out
}

/** The way through on Talos, for each node: drain, apply, wipe EPHEMERAL (/var, with /var/lib/kubelet), approve its new serving CSR, uncordon. */
export function kubeletStateProcedure(
  nodes: { node: InventoryNode; changes: KubeletStateChange[] }[],
  inventoryFile: string,
): string {
  const lines = nodes.map(
    ({ node, changes }) =>
      `  ${node.name}: ${changes.map((c) => `${c.field} ${c.from} → ${c.to}`).join('; ')}: kubelet would refuse to start (${changes.map((c) => c.kubeletError).join('; ')}) and ${node.name} would go NotReady`,
  )
  const steps = nodes.flatMap(({ node }, i) => [
    `  ${i ? '' : 'one node at a time: '}${node.name}:`,
    `    1. kubectl drain ${node.name} --ignore-daemonsets --delete-emptydir-data`,
    `    2. npx zx runbooks/02-configure.ts --inventory ${inventoryFile} --allow-kubelet-policy-change   (kubelet on ${node.name} stops starting)`,
    `    3. talosctl -n ${node.address} reset --graceful=false --reboot --system-labels-to-wipe=EPHEMERAL   (wipes /var with the stale checkpoints; the machine config on STATE and the user volumes stay)`,
    `    4. npx zx runbooks/04-join.ts --inventory ${inventoryFile}   (the wipe took the kubelet's serving certificate: it approves the new request after checking its SANs)`,
    `    5. kubectl uncordon ${node.name}   (once it is Ready again)`,
  ])
  return (
    `kubelet resource-manager settings change on a running node; Talos removes /var/lib/kubelet/cpu_manager_state only when the CPU manager policy name changes and never memory_manager_state, so kubelet would fail its checkpoint validation:\n` +
    lines.join('\n') +
    `\nnothing was applied. Do it this way:\n` +
    steps.join('\n')
  )
}
