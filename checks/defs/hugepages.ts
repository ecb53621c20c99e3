// 1 GiB hugepages on the validator, from boot to kubelet: the kernel args that reserve them, what the kernel
// reserved (meminfo, per NUMA node in sysfs), and what the kubelet offers to pods.
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { hugepagesFromCmdline, parseMeminfo } from '../../lib/host/procfs.ts'
import { hugepageSizeKb, sameQuantity } from '../../lib/kube/quantity.ts'
import { bytes, count, expectEqual, fail, nodeValue, pass, warn, worded } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'
import { findK8sNode } from './cluster.ts'

const targets = (inv: CheckInventory) => names(validatorNodes(inv))
const spec = (inv: CheckInventory) => inv.validator!.hugepages
const total = (inv: CheckInventory) => spec(inv).perNumaNode.reduce((a, b) => a + b, 0)

/** A page count as the table shows it (`4 pages`); null (not readable) stays '-'. */
const pages = (n: number | null) => (n === null ? null : worded(n, count(n, 'page')))

/** A page size as the kernel prints it (`1048576 kB`), shown as `1 GiB`; what the kernel printed stays the evidence. */
const pageSize = (kb: string) => {
  const n = Number(kb.replace(/ kB$/, ''))
  return Number.isFinite(n) && kb.endsWith(' kB') ? worded(kb, bytes(n * 1024)) : kb
}

/** The `hugepages=` value that reserves perNumaNode pages on each node: "0:4,1:4". */
const perNodeHugepagesArg = (perNumaNode: number[] | Record<number, number>) =>
  Object.entries(perNumaNode)
    .map(([i, n]) => `${i}:${n}`)
    .join(',')

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
      const sizeKb = hugepageSizeKb(spec(inv).size)
      const per = spec(inv).perNumaNode
      const wantedPerNode = worded(
        Object.fromEntries(per.map((n, i) => [i, n])),
        `hugepages=${perNodeHugepagesArg(per)}`,
      )
      const out: Result[] = [
        expectEqual(
          'hugepages.cmdline',
          `${node}/default_hugepagesz`,
          pageSize(`${hp.defaultSize} kB`),
          pageSize(`${sizeKb} kB`),
          `default hugepage size on ${node}`,
        ),
      ]
      const req = hp.sizes.find((r) => r.sizeKiB === sizeKb)
      const t = `${node}/hugepages`
      const wanted = worded(
        `hugepagesz=${spec(inv).size.replace(/i$/, '')} hugepages=${perNodeHugepagesArg(per)}`,
        `hugepages=${perNodeHugepagesArg(per)}`,
      )
      if (!req) {
        out.push(
          fail(
            'hugepages.cmdline',
            t,
            worded({ sizes: hp.sizes, warnings: hp.warnings }, `no ${spec(inv).size} pages`),
            wanted,
            `no ${sizeKb} kB hugepages requested on ${node}'s kernel command line${hp.warnings.length ? ` (${hp.warnings.join('; ')})` : ''}`,
          ),
        )
      } else if (req.perNode) {
        const seen = worded(req.perNode, `hugepages=${perNodeHugepagesArg(req.perNode)}`)
        out.push(expectEqual('hugepages.cmdline', t, seen, wantedPerNode, `per-NUMA-node hugepages on ${node}`))
      } else {
        out.push(
          req.count === total(inv)
            ? warn(
                'hugepages.cmdline',
                t,
                worded({ count: req.count }, `hugepages=${req.count}`),
                wanted,
                `hugepages=${req.count} is the right total but leaves the NUMA split to the kernel`,
              )
            : fail(
                'hugepages.cmdline',
                t,
                worded({ count: req.count }, `hugepages=${req.count}`),
                wanted,
                `hugepages=${req.count} on ${node}, wanted ${perNodeHugepagesArg(per)}`,
              ),
        )
      }
      return out
    }),
})

export const hugepagesMeminfo = defineCheck({
  id: 'hugepages.meminfo',
  group: 'hugepages',
  title: '/proc/meminfo shows the reserved hugepages',
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
          pages(total(inv)),
          `HugePages_Total on ${node}`,
        ),
        expectEqual(
          'hugepages.meminfo',
          `${node}/Hugepagesize`,
          f.Hugepagesize !== undefined ? pageSize(`${f.Hugepagesize} kB`) : null,
          pageSize(`${hugepageSizeKb(spec(inv).size)} kB`),
          `Hugepagesize on ${node}`,
        ),
      ]
    }),
})

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
      const wanted = spec(inv).perNumaNode
      const ids = [...new Set([...wanted.keys(), ...Object.keys(v.value).map(Number)])].sort((a, b) => a - b)
      return ids.map((id) => {
        const seen = v.value[id]
        const want = wanted[id] ?? 0
        const t = `${node}/node${id}`
        if (seen === undefined)
          return fail(
            'hugepages.numa',
            t,
            null,
            pages(want),
            `NUMA node ${id} on ${node} has no hugepages-${hugepageSizeKb(spec(inv).size)}kB/nr_hugepages`,
          )
        return expectEqual('hugepages.numa', t, pages(seen), pages(want), `nr_hugepages on NUMA node ${id} of ${node}`)
      })
    }),
})

export const hugepagesAllocatable = defineCheck({
  id: 'hugepages.allocatable',
  group: 'hugepages',
  title: 'the kubelet offers the hugepages as allocatable',
  targets,
  needs: ['k8sNodes'],
  evaluate: ({ k8sNodes }, inv) =>
    validatorNodes(inv).map((n) => {
      const res = `hugepages-${spec(inv).size}`
      const wanted = `${total(inv)}Gi`
      const k = findK8sNode(k8sNodes.items, n)
      if (!k) return fail('hugepages.allocatable', n.name, null, wanted, `${n.name} is not a Kubernetes node`)
      const seen = k.status?.allocatable?.[res]
      return seen !== undefined && sameQuantity(seen, `${total(inv) * hugepageSizeKb(spec(inv).size)}Ki`)
        ? pass('hugepages.allocatable', n.name, seen, wanted, `allocatable ${res} = ${seen}`)
        : fail(
            'hugepages.allocatable',
            n.name,
            seen ?? null,
            wanted,
            `allocatable ${res} on ${k.metadata.name} is ${seen ?? 'absent'}, wanted ${wanted}`,
          )
    }),
})

export const hugepagesChecks = [hugepagesCmdline, hugepagesMeminfo, hugepagesNuma, hugepagesAllocatable]
