// The validator's huge page pools (1 GiB and/or 2 MiB), from boot to kubelet: the kernel args that reserve them, what
// the kernel reserved (meminfo, per NUMA node in sysfs), and what the kubelet offers to pods. Each pool is judged on
// its own; the default pool (the 1 GiB one when there is one) keeps the plain targets (validator1/hugepages,
// validator1/node0, validator1), another pool's targets end in its size (validator1/hugepages/2Mi).
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { hugepagesFromCmdline, parseMeminfo } from '../../lib/host/procfs.ts'
import { sameQuantity } from '../../lib/kube/quantity.ts'
import {
  defaultPool,
  hugepageBytes,
  hugepageKiB,
  hugepageQuantity,
  hugepageResource,
  kernelSize,
  perNodeArg,
  type HugepagePool,
} from '../../config/hugepages.ts'
import { bytes, count, expectEqual, fail, nodeValue, pass, warn, worded } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'
import { findK8sNode } from './cluster.ts'

const targets = (inv: CheckInventory) => names(validatorNodes(inv))
const pools = (inv: CheckInventory) => inv.validator!.hugepages
const spec = (inv: CheckInventory) => defaultPool(pools(inv))
const total = (p: HugepagePool) => p.perNumaNode.reduce((a, b) => a + b, 0)

/** A target for pool p: the default pool's as before, another's with its size appended. */
const at = (inv: CheckInventory, p: HugepagePool, target: string) => (p === spec(inv) ? target : `${target}/${p.size}`)

/** A page count as the table shows it (`4 pages`); null (not readable) stays '-'. */
const pages = (n: number | null) => (n === null ? null : worded(n, count(n, 'page')))

/** A page size as the kernel prints it (`1048576 kB`), shown as `1 GiB`; what the kernel printed stays the evidence. */
const pageSize = (kb: string) => {
  const n = Number(kb.replace(/ kB$/, ''))
  return Number.isFinite(n) && kb.endsWith(' kB') ? worded(kb, bytes(n * 1024)) : kb
}

export const hugepagesCmdline = defineCheck({
  id: 'hugepages.cmdline',
  group: 'hugepages',
  title: 'kernel args reserve the inventory hugepages at boot',
  targets,
  needs: ['cmdline'],
  evaluate: ({ cmdline }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(cmdline, node, 'hugepages.cmdline', '/proc/cmdline')
      if ('fail' in v) return [v.fail]
      const hp = hugepagesFromCmdline(v.value)
      const defaultSize = expectEqual(
        'hugepages.cmdline',
        `${node}/default_hugepagesz`,
        pageSize(`${hp.defaultSize} kB`),
        pageSize(`${hugepageKiB(spec(inv).size)} kB`),
        `default hugepage size on ${node}`,
      )
      return [defaultSize, ...pools(inv).map((p) => poolOnCmdline(inv, node, p, hp))]
    }),
})

/** What the command line asks of pool p's size, against the pool (hugepagesFromCmdline already applied the kernel's rules). */
function poolOnCmdline(
  inv: CheckInventory,
  node: string,
  p: HugepagePool,
  hp: ReturnType<typeof hugepagesFromCmdline>,
): Result {
  const sizeKb = hugepageKiB(p.size)
  const per = p.perNumaNode
  const arg = `hugepages=${perNodeArg(per)}`
  const wantedPerNode = worded(Object.fromEntries(per.map((n, i) => [i, n])), arg)
  const req = hp.sizes.find((r) => r.sizeKiB === sizeKb)
  const t = at(inv, p, `${node}/hugepages`)
  const wanted = worded(`hugepagesz=${kernelSize(p.size)} ${arg}`, arg)
  if (!req)
    return fail(
      'hugepages.cmdline',
      t,
      worded({ sizes: hp.sizes, warnings: hp.warnings }, `no ${p.size} pages`),
      wanted,
      `no ${sizeKb} kB hugepages requested on ${node}'s kernel command line${hp.warnings.length ? ` (${hp.warnings.join('; ')})` : ''}`,
    )
  if (req.perNode) {
    const seen = worded(req.perNode, `hugepages=${perNodeArg(req.perNode)}`)
    return expectEqual('hugepages.cmdline', t, seen, wantedPerNode, `per-NUMA-node ${p.size} hugepages on ${node}`)
  }
  const seen = worded({ count: req.count }, `hugepages=${req.count}`)
  return req.count === total(p)
    ? warn(
        'hugepages.cmdline',
        t,
        seen,
        wanted,
        `hugepages=${req.count} is the right total but leaves the NUMA split to the kernel`,
      )
    : fail('hugepages.cmdline', t, seen, wanted, `hugepages=${req.count} on ${node}, wanted ${perNodeArg(per)}`)
}

export const hugepagesMeminfo = defineCheck({
  id: 'hugepages.meminfo',
  group: 'hugepages',
  title: '/proc/meminfo shows the reserved hugepages',
  // HugePages_* and Hugepagesize describe the default size only (Documentation/admin-guide/mm/hugetlbpage.rst);
  // Hugetlb is every pool's memory in kB, so with two pools it is judged too.
  targets,
  needs: ['meminfo'],
  evaluate: ({ meminfo }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(meminfo, node, 'hugepages.meminfo', '/proc/meminfo')
      if ('fail' in v) return [v.fail]
      const f = parseMeminfo(v.value)
      return [
        expectEqual(
          'hugepages.meminfo',
          `${node}/HugePages_Total`,
          pages(f.HugePages_Total ?? null),
          pages(total(spec(inv))),
          `HugePages_Total on ${node}`,
        ),
        ...(pools(inv).length > 1 ? [hugetlbTotal(inv, node, f.Hugetlb)] : []),
        expectEqual(
          'hugepages.meminfo',
          `${node}/Hugepagesize`,
          f.Hugepagesize !== undefined ? pageSize(`${f.Hugepagesize} kB`) : null,
          pageSize(`${hugepageKiB(spec(inv).size)} kB`),
          `Hugepagesize on ${node}`,
        ),
      ]
    }),
})

/** meminfo's Hugetlb (kB, all sizes) against the pools' sum. */
function hugetlbTotal(inv: CheckInventory, node: string, seenKb: number | undefined): Result {
  const wantKb = pools(inv).reduce((a, p) => a + total(p) * hugepageKiB(p.size), 0)
  const words = pools(inv)
    .map((p) => `${total(p)} × ${p.size}`)
    .join(' + ')
  const seen = seenKb === undefined ? null : worded(seenKb, bytes(seenKb * 1024))
  const wanted = worded(wantKb, `${bytes(wantKb * 1024)} (${words})`)
  const t = `${node}/Hugetlb`
  return seenKb === wantKb
    ? pass('hugepages.meminfo', t, seen, wanted, `Hugetlb on ${node} is ${bytes(wantKb * 1024)} (${words})`)
    : fail(
        'hugepages.meminfo',
        t,
        seen,
        wanted,
        `Hugetlb (all page sizes) on ${node} is ${seenKb === undefined ? 'absent' : bytes(seenKb * 1024)}, wanted ${bytes(wantKb * 1024)} (${words})`,
      )
}

export const hugepagesNuma = defineCheck({
  id: 'hugepages.numa',
  group: 'hugepages',
  title: 'each NUMA node holds its share of hugepages',
  targets,
  needs: ['hugepagesSysfs'],
  evaluate: ({ hugepagesSysfs }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(hugepagesSysfs, node, 'hugepages.numa', 'per-node nr_hugepages')
      if ('fail' in v) return [v.fail]
      return pools(inv).flatMap((p) => poolPerNode(inv, node, p, v.value[hugepageKiB(p.size)] ?? {}))
    }),
})

/** nodeN/hugepages/hugepages-<kB>kB/nr_hugepages of pool p's size on every NUMA node, against perNumaNode. */
function poolPerNode(
  inv: CheckInventory,
  node: string,
  p: HugepagePool,
  seenPerNode: Record<number, number>,
): Result[] {
  const wanted = p.perNumaNode
  const ids = [...new Set([...wanted.keys(), ...Object.keys(seenPerNode).map(Number)])].sort((a, b) => a - b)
  return ids.map((id) => {
    const seen = seenPerNode[id]
    const want = wanted[id] ?? 0
    const t = at(inv, p, `${node}/node${id}`)
    if (seen === undefined)
      return fail(
        'hugepages.numa',
        t,
        null,
        pages(want),
        `NUMA node ${id} on ${node} has no hugepages-${hugepageKiB(p.size)}kB/nr_hugepages`,
      )
    return expectEqual(
      'hugepages.numa',
      t,
      pages(seen),
      pages(want),
      `${p.size} nr_hugepages on NUMA node ${id} of ${node}`,
    )
  })
}

export const hugepagesAllocatable = defineCheck({
  id: 'hugepages.allocatable',
  group: 'hugepages',
  title: 'the kubelet offers the hugepages as allocatable',
  targets,
  needs: ['k8sNodes'],
  evaluate: ({ k8sNodes }, inv) =>
    validatorNodes(inv).flatMap((n) => {
      const k = findK8sNode(k8sNodes.items, n)
      return pools(inv).map((p) => {
        const t = at(inv, p, n.name)
        const res = hugepageResource(p.size)
        const wanted = hugepageQuantity(total(p) * hugepageBytes(p.size))
        if (!k) return fail('hugepages.allocatable', t, null, wanted, `${n.name} is not a Kubernetes node`)
        // kubelet's capacity is what the kernel reserved (cadvisor reads sysfs); allocatable is capacity minus
        // reserved huge pages, of which the inventory reserves none: both must be the pool.
        const seen = k.status?.allocatable?.[res]
        const cap = k.status?.capacity?.[res]
        const capOk = cap === undefined || sameQuantity(cap, wanted)
        return seen !== undefined && sameQuantity(seen, wanted) && capOk
          ? pass('hugepages.allocatable', t, seen, wanted, `allocatable ${res} = ${seen}`)
          : fail(
              'hugepages.allocatable',
              t,
              seen ?? null,
              wanted,
              `allocatable ${res} on ${k.metadata.name} is ${seen ?? 'absent'}${capOk ? '' : ` (capacity ${cap})`}, wanted ${wanted}`,
            )
      })
    }),
})

export const hugepagesChecks = [hugepagesCmdline, hugepagesMeminfo, hugepagesNuma, hugepagesAllocatable]
