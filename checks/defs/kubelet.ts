// The kubelet on the validator runs with the inventory's CPU/topology/memory manager settings and reservations
// (KubeletConfiguration field names, as the machine config's machine.kubelet.extraConfig carries them).
import { names, validatorNodes, type CheckInventory, type CheckValidator } from '../engine/inventory.ts'
import { sameQuantity } from '../../lib/kube/quantity.ts'
import { fail, fmt, nodeValue, pass, worded, type Evidenced } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'
import { formatCpuList, parseCpuList } from '../../lib/host/numa.ts'
import { cpuLimitingArgs } from '../../lib/host/cpu-online.ts'
import { evictionHardFor, kubeletExtraConfig, kubeReservedFor, systemReservedFor } from '../../config/render.ts'

const targets = (inv: CheckInventory) => names(validatorNodes(inv))

/** The KubeletConfiguration the inventory asks for (only the fields it sets), with what lib/render.ts adds to them. */
function wantedKubeletConfig(v: CheckValidator): Record<string, unknown> {
  const w: Record<string, unknown> = {}
  const rendered = kubeletExtraConfig(v)
  if (v.cpuManagerPolicy !== undefined) w.cpuManagerPolicy = v.cpuManagerPolicy
  if (rendered.cpuManagerPolicyOptions !== undefined) w.cpuManagerPolicyOptions = rendered.cpuManagerPolicyOptions
  if (v.topologyManagerPolicy !== undefined) w.topologyManagerPolicy = v.topologyManagerPolicy
  if (v.topologyManagerScope !== undefined) w.topologyManagerScope = v.topologyManagerScope
  if (v.reservedSystemCpus !== undefined) w.reservedSystemCPUs = v.reservedSystemCpus
  if (v.systemReserved !== undefined) w.systemReserved = systemReservedFor(v)
  if (v.kubeReserved !== undefined) w.kubeReserved = kubeReservedFor(v)
  if (v.evictionHard !== undefined) w.evictionHard = evictionHardFor(v)
  if (rendered.registerWithTaints !== undefined) w.registerWithTaints = rendered.registerWithTaints
  if (v.reservedMemory !== undefined)
    w.reservedMemory = v.reservedMemory.map((r) => ({ numaNode: r.numaNode, limits: { memory: r.memory } }))
  return w
}

/** Deep equality where leaf strings compare as quantities ("1Gi" = "1024Mi") and map key order is irrelevant. */
function sameConfigValue(seen: unknown, wanted: unknown): boolean {
  if (Array.isArray(wanted)) {
    if (!Array.isArray(seen) || seen.length !== wanted.length) return false
    return wanted.every((w, i) => sameConfigValue(seen[i], w))
  }
  if (wanted !== null && typeof wanted === 'object') {
    if (seen === null || typeof seen !== 'object' || Array.isArray(seen)) return false
    const s = seen as Record<string, unknown>
    const w = wanted as Record<string, unknown>
    const keys = new Set([...Object.keys(s), ...Object.keys(w)])
    return [...keys].every((k) => sameConfigValue(s[k], w[k]))
  }
  if (typeof wanted === 'string' && typeof seen === 'string' && /^[\d.]+[a-zA-Z]*$/.test(wanted))
    return sameQuantity(seen, wanted)
  return String(seen) === String(wanted) && seen !== undefined
}

/**
 * A KubeletConfiguration value in a few words: scalars as they are, a list as its items (`0,1`), a map as
 * `key=value` pairs (`cpu=1, memory=2Gi`), reservedMemory as `node 0: 1Gi`. Long ones are cut by the table.
 */
export function configWords(v: unknown): Evidenced {
  if (v === null || v === undefined || typeof v !== 'object') return v as Evidenced
  return worded(v, flatWords(v))
}

function flatWords(v: unknown): string {
  if (v === null || typeof v !== 'object') return String(v)
  if (Array.isArray(v)) return v.map(flatWords).join(', ')
  const o = v as Record<string, unknown>
  // reservedMemory entries: { numaNode, limits: { memory } }
  if ('numaNode' in o && o.limits && typeof o.limits === 'object')
    return `node ${String(o.numaNode)}: ${flatWords(Object.values(o.limits as object).join('/'))}`
  return Object.entries(o)
    .map(([k, x]) => `${k}=${flatWords(x)}`)
    .join(', ')
}

export const kubeletConfig = defineCheck({
  id: 'kubelet.config',
  group: 'kubelet',
  title: 'kubelet CPU/topology manager policies, reserved CPUs, reservations and eviction',
  targets,
  needs: ['kubeletConfig'],
  evaluate: ({ kubeletConfig: data }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(data, node, 'kubelet.config', 'kubelet config')
      if ('fail' in v) return [v.fail]
      return Object.entries(wantedKubeletConfig(inv.validator!)).map(([field, wanted]) => {
        const seen = v.value[field]
        return sameConfigValue(seen, wanted)
          ? pass(
              'kubelet.config',
              `${node}/${field}`,
              configWords(seen),
              configWords(wanted),
              `${field} = ${fmt(seen)}`,
            )
          : fail(
              'kubelet.config',
              `${node}/${field}`,
              configWords(seen ?? null),
              configWords(wanted),
              `kubelet ${field} on ${node} is ${fmt(seen)}, wanted ${fmt(wanted)}`,
            )
      })
    }),
})

// With full-pcpus-only the static CPU manager allocates whole cores; a reservation holding one thread of a core leaves
// its sibling to neither the system nor any pod, and puts system work on a core a validator thread shares.
export const reservedWholeCores = defineCheck({
  id: 'kubelet.reserved-whole-cores',
  group: 'kubelet',
  title: 'reservedSystemCPUs takes whole SMT cores (thread_siblings_list)',
  targets: (inv) => (inv.validator?.reservedSystemCpus ? targets(inv) : []),
  needs: ['threadSiblings'],
  evaluate: ({ threadSiblings }, inv) =>
    (inv.validator?.reservedSystemCpus ? targets(inv) : []).flatMap((node): Result[] => {
      const v = nodeValue(threadSiblings, node, 'kubelet.reserved-whole-cores', 'thread_siblings_list')
      if ('fail' in v) return [v.fail]
      const reserved = new Set(Object.keys(v.value).map(Number))
      const split = Object.entries(v.value).flatMap(([cpu, text]) => {
        const missing = parseCpuList(text.trim()).filter((s) => !reserved.has(s))
        return missing.length ? [`CPU ${cpu} without its sibling ${missing.join(',')}`] : []
      })
      const wanted = inv.validator!.reservedSystemCpus!
      return split.length
        ? [
            fail(
              'kubelet.reserved-whole-cores',
              node,
              split.join('; '),
              'whole cores',
              `reservedSystemCPUs ${wanted} splits SMT cores on ${node}: ${split.join('; ')}`,
            ),
          ]
        : [
            pass(
              'kubelet.reserved-whole-cores',
              node,
              wanted,
              'whole cores',
              `reservedSystemCPUs ${wanted} is whole cores`,
            ),
          ]
    }),
})

/** What on this boot's command line can have taken CPUs offline, in words. */
function offlineCause(cmdline: string | undefined): string {
  if (cmdline === undefined) return 'the command line could not be read'
  const l = cpuLimitingArgs(cmdline)
  const args = [
    ...(l.nosmt ? ['nosmt (only the first thread of each core)'] : []),
    ...(l.maxcpus !== undefined ? [`maxcpus=${l.maxcpus}`] : []),
    ...(l.nrCpus !== undefined ? [`nr_cpus=${l.nrCpus}`] : []),
  ]
  return args.length
    ? `this boot's command line has ${args.join(', ')}`
    : 'nothing on the command line takes CPUs offline: SMT or cores disabled in the firmware, or a CPU offlined by hand'
}

// kubelet's static CPU manager starts each boot from the fresh checkpoint Talos writes (its shared pool: the online
// CPUs), and every later start within the boot exits while a reserved CPU is not in that pool (kubernetes v1.33.1
// pkg/kubelet/cm/cpumanager/policy_static.go validateState: "not all reserved cpus: … are present in
// defaultCpuSet"). So kubelet may be Running now and still not come back from the next config apply or crash.
export const reservedCpusOnline = defineCheck({
  id: 'kubelet.reserved-cpus-online',
  group: 'kubelet',
  title: 'every reservedSystemCPUs CPU is online (kubelet restarts need them)',
  targets: (inv) => (inv.validator?.reservedSystemCpus ? targets(inv) : []),
  needs: ['cpuOnline', 'cmdline'],
  evaluate: ({ cpuOnline, cmdline }, inv) =>
    (inv.validator?.reservedSystemCpus ? targets(inv) : []).flatMap((node): Result[] => {
      const v = nodeValue(cpuOnline, node, 'kubelet.reserved-cpus-online', '/sys/devices/system/cpu/online')
      if ('fail' in v) return [v.fail]
      const wanted = inv.validator!.reservedSystemCpus!
      const online = parseCpuList(v.value.trim())
      const missing = parseCpuList(wanted).filter((c) => !online.includes(c))
      const seen = worded({ online: formatCpuList(online) }, `online ${formatCpuList(online)}`)
      const want = worded({ reservedSystemCPUs: wanted }, `${wanted} online`)
      if (!missing.length)
        return [pass('kubelet.reserved-cpus-online', node, seen, want, `reserved CPUs ${wanted} are online`)]
      const stay = parseCpuList(wanted).filter((c) => online.includes(c))
      return [
        fail(
          'kubelet.reserved-cpus-online',
          node,
          seen,
          want,
          `reserved CPU${missing.length > 1 ? 's' : ''} ${formatCpuList(missing)} ${missing.length > 1 ? 'are' : 'is'} offline on ${node} (${offlineCause(cmdline.values[node])}): kubelet runs this boot, but its next start within it (a config apply, a crash) fails (not all reserved cpus: "${wanted}" are present in defaultCpuSet: "${formatCpuList(online)}"; kubernetes v1.33.1 cpumanager/policy_static.go validateState); reserve only online CPUs${stay.length ? ` (validator.reservedSystemCpus "${formatCpuList(stay)}")` : ''}, then run 02 (it says how a reservedSystemCPUs change reaches a running node)`,
        ),
      ]
    }),
})

export const kubeletChecks = [kubeletConfig, reservedWholeCores, reservedCpusOnline]
