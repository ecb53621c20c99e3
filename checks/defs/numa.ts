// The validator's NUMA topology as read through the Talos API, rendered as `numactl --hardware` would print it and
// asserted against what the inventory's hugepage layout assumes.
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { count, fail, nodeValue, pass, worded } from '../engine/results.ts'
import { defineCheck, type NumaView, type Result } from '../engine/types.ts'
import { hugepageNumaNodes } from '../../config/hugepages.ts'

const targets = (inv: CheckInventory) => names(validatorNodes(inv))
const LOCAL_DISTANCE = 10

/** Problems with a topology, empty when sound. Pure, so the rules can be tested one by one. */
function numaProblems(t: NumaView, expectedNodes: number): string[] {
  const p: string[] = []
  if (t.nodes.length !== expectedNodes)
    p.push(`${t.nodes.length} NUMA node(s), the inventory's perNumaNode lists ${expectedNodes}`)
  for (const n of t.nodes) {
    if (n.cpus.length === 0) p.push(`node ${n.id} has no CPUs`)
    if (!(n.memTotalMiB > 0)) p.push(`node ${n.id} has no memory`)
  }
  const d = t.distances
  if (d.length !== t.nodes.length || d.some((row) => row.length !== t.nodes.length)) {
    p.push(`distance matrix is ${d.length}x${d[0]?.length ?? 0} for ${t.nodes.length} node(s)`)
    return p
  }
  for (let i = 0; i < d.length; i++) {
    if (d[i]![i] !== LOCAL_DISTANCE)
      p.push(`local distance of node ${t.nodes[i]!.id} is ${d[i]![i]}, not ${LOCAL_DISTANCE}`)
    for (let j = i + 1; j < d.length; j++) {
      if (d[i]![j] !== d[j]![i])
        p.push(`distances not symmetric: ${t.nodes[i]!.id}→${t.nodes[j]!.id} ${d[i]![j]}, back ${d[j]![i]}`)
    }
  }
  return p
}

export const numaTopology = defineCheck({
  id: 'numa.topology',
  group: 'numa',
  title: 'NUMA topology matches the inventory (nodes, CPUs, memory, distances)',
  targets,
  needs: ['numa'],
  evaluate: ({ numa }, inv) =>
    targets(inv).map((node): Result => {
      const v = nodeValue(numa, node, 'numa.topology', 'NUMA topology')
      if ('fail' in v) return v.fail
      const expected = hugepageNumaNodes(inv.validator!.hugepages)
      const problems = numaProblems(v.value, expected)
      const seen = worded(
        {
          nodes: v.value.nodes.map((n) => ({ id: n.id, cpus: n.cpus.length, memMiB: n.memTotalMiB })),
          numactl: v.value.numactl,
        },
        `${count(v.value.nodes.length, 'node')}, ${v.value.nodes.map((n) => n.cpus.length).join('+')} cpus`,
      )
      const wanted = worded(
        { nodes: expected, everyNodeHasCpusAndMemory: true, localDistance: LOCAL_DISTANCE, symmetric: true },
        count(expected, 'node'),
      )
      return problems.length === 0
        ? pass(
            'numa.topology',
            node,
            seen,
            wanted,
            `${v.value.nodes.length} NUMA node(s), ${v.value.nodes.map((n) => `node ${n.id}: ${n.cpus.length} cpus ${n.memTotalMiB} MiB`).join('; ')}`,
          )
        : fail('numa.topology', node, seen, wanted, problems.join('; '))
    }),
})

export const numaChecks = [numaTopology]
