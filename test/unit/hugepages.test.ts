// config/hugepages.ts: the one parser of validator.hugepages (one pool or a list) and the kernel args it renders.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  defaultPool,
  hugepageBytesPerNode,
  hugepageKernelArgs,
  hugepageNumaNodes,
  hugepagePools,
  hugepageQuantity,
  podHugepages,
} from '../../config/hugepages.ts'

const G = { size: '1Gi' as const, perNumaNode: [16, 16] }
const M = { size: '2Mi' as const, perNumaNode: [1024, 512, 8] }

test('one pool reads as a list of one; a list is ordered largest page first, the default pool', () => {
  assert.deepEqual(hugepagePools(G), [G])
  assert.deepEqual(hugepagePools([M, G]), [G, M])
  assert.equal(defaultPool(hugepagePools([M, G])), G)
  assert.equal(defaultPool(hugepagePools(M)), M)
})

test('bytes per NUMA node add every size; the node count is the longest perNumaNode', () => {
  const pools = hugepagePools([G, M])
  assert.deepEqual(hugepageBytesPerNode(pools), [16 * 2 ** 30 + 2 ** 31, 16 * 2 ** 30 + 2 ** 30, 16 * 2 ** 20])
  assert.equal(hugepageNumaNodes(pools), 3)
})

test('kernel args: default size first, then one hugepagesz= hugepages= pair per pool', () => {
  assert.deepEqual(hugepageKernelArgs(hugepagePools([M, G])), [
    'default_hugepagesz=1G',
    'hugepagesz=1G',
    'hugepages=0:16,1:16',
    'hugepagesz=2M',
    'hugepages=0:1024,1:512,2:8',
  ])
})

test("the pod's hugepages: a bare quantity is of the default size, a map is per size", () => {
  assert.deepEqual(podHugepages('16Gi', hugepagePools([M, G])), { '1Gi': '16Gi' })
  assert.deepEqual(podHugepages('64Mi', hugepagePools(M)), { '2Mi': '64Mi' })
  assert.deepEqual(podHugepages({ '1Gi': '8Gi', '2Mi': '1Gi' }, hugepagePools([G, M])), { '1Gi': '8Gi', '2Mi': '1Gi' })
  assert.deepEqual([hugepageQuantity(2 ** 33), hugepageQuantity(3 * 2 ** 29)], ['8Gi', '1536Mi'])
})
