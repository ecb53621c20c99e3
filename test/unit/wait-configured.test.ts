// 02's wait after an apply that reboots the node (steps/configure.ts waitConfigured): machined answers the apply
// before it goes down, so "running" on the old boot is not the new config running; only a new boot ID is.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { waitConfigured } from '../../steps/configure.ts'

/** A node that reports stage running throughout and changes its boot ID at the `rebootAt`-th read of it. */
function fakeCluster(rebootAt: number) {
  let reads = 0
  const talos = {
    bootId: async () => (++reads >= rebootAt ? 'new-boot' : 'old-boot'),
    machineStatus: async () => [{ spec: { stage: 'running' } }],
  }
  return { c: { talos } as unknown as Cluster, reads: () => reads }
}

const node = { name: 'validator1', address: '127.0.0.21' } as InventoryNode

test('a node whose apply reboots it counts as configured only on a new boot, though it says running before', async () => {
  const f = fakeCluster(3)
  await waitConfigured(f.c, [node], { timeoutMs: 20_000, bootBefore: new Map([['validator1', 'old-boot']]) })
  assert.equal(f.reads(), 3, 'polled until the boot ID changed')
})

test('a node still on its old boot when the wait ends is reported as not configured', async () => {
  const f = fakeCluster(Infinity)
  await assert.rejects(
    waitConfigured(f.c, [node], { timeoutMs: 1500, bootBefore: new Map([['validator1', 'old-boot']]) }),
    /validator1 to run its config on a new boot/,
  )
})

test('a node whose apply does not reboot it is configured once it says running', async () => {
  const f = fakeCluster(Infinity)
  await waitConfigured(f.c, [node], { timeoutMs: 5000 })
  assert.equal(f.reads(), 0, 'no boot ID is read')
})
