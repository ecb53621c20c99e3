// Kubelet resource-manager changes on a running node (issue 13, item 9): what 02 detects and refuses, and the lab
// kubelet's checkpoint validation that makes such a change leave kubelet unable to start.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { kubeletStateChanges, kubeletStateProcedure } from '../../config/kubelet-policy.ts'
import { CPU_STATE, MEMORY_STATE, startKubelet, wipeEphemeralKubeletState } from '../../lab/kubelet.ts'
import { hardwareProfile } from '../../lab/hardware.ts'
import { createSysroot } from '../../lab/sysroot.ts'
import type { InventoryNode } from '../../config/inventory.ts'

const base = {
  cpuManagerPolicy: 'static',
  reservedSystemCPUs: '0,1',
  memoryManagerPolicy: 'Static',
  reservedMemory: [
    { numaNode: 0, limits: { memory: '2Gi' } },
    { numaNode: 1, limits: { memory: '1524Mi' } },
  ],
}
const config = (extra: Record<string, unknown>) =>
  stringify({ version: 'v1alpha1', machine: { type: 'worker', kubelet: { extraConfig: extra } } })

test('02 detects the kubelet changes a running node cannot take, and only those', () => {
  assert.deepEqual(kubeletStateChanges(config(base), config({ ...base })), [])
  // same quantity spelled differently: no change
  assert.deepEqual(
    kubeletStateChanges(
      config(base),
      config({
        ...base,
        reservedMemory: [
          { numaNode: 0, limits: { memory: '2048Mi' } },
          { numaNode: 1, limits: { memory: '1524Mi' } },
        ],
      }),
    ),
    [],
  )
  const mem = kubeletStateChanges(
    config(base),
    config({
      ...base,
      reservedMemory: [
        { numaNode: 0, limits: { memory: '3Gi' } },
        { numaNode: 1, limits: { memory: '524Mi' } },
      ],
    }),
  )
  assert.deepEqual(
    mem.map((c) => [c.field, c.from, c.to]),
    [['reservedMemory', '0:2Gi,1:1524Mi', '0:3Gi,1:524Mi']],
  )
  assert.match(mem[0]!.kubeletError, /the expected machine state is different from the real one/)
  const cpus = kubeletStateChanges(config(base), config({ ...base, reservedSystemCPUs: '0-3' }))
  assert.deepEqual(
    cpus.map((c) => c.field),
    ['reservedSystemCPUs'],
  )
  const policy = kubeletStateChanges(config({ cpuManagerPolicy: 'static', reservedSystemCPUs: '0,1' }), config(base))
  assert.deepEqual(
    policy.map((c) => [c.field, c.from, c.to]),
    [['memoryManagerPolicy', 'None', 'Static']],
  )
  // a CPU manager policy NAME change is fine: Talos removes cpu_manager_state itself
  assert.deepEqual(
    kubeletStateChanges(
      config({ cpuManagerPolicy: 'none' }),
      config({ cpuManagerPolicy: 'static', reservedSystemCPUs: '0,1' }),
    ),
    [],
  )
})

test('the refusal names the change, kubelet error and the procedure that works on Talos', () => {
  const node = { name: 'validator1', address: '10.20.0.21' } as InventoryNode
  const changes = kubeletStateChanges(
    config(base),
    config({ ...base, reservedMemory: [{ numaNode: 0, limits: { memory: '3Gi' } }] }),
  )
  const msg = kubeletStateProcedure([{ node, changes }], 'inventory/prod.yaml')
  assert.match(msg, /validator1: reservedMemory 0:2Gi,1:1524Mi → 0:3Gi: kubelet would refuse to start/)
  assert.match(msg, /kubectl drain validator1 --ignore-daemonsets --delete-emptydir-data/)
  assert.match(msg, /talosctl -n 10\.20\.0\.21 reset --graceful=false --reboot --system-labels-to-wipe=EPHEMERAL/)
  assert.match(msg, /runbooks\/04-join\.ts --inventory inventory\/prod\.yaml .*serving certificate/)
  assert.match(msg, /5\. kubectl uncordon validator1/)
})

test('lab kubelet: checkpoints written at first start; a reservedMemory or memory policy change fails; Talos removes cpu state on a CPU policy name change', () => {
  const root = mkdtempSync(join(tmpdir(), 'kubelet-'))
  const hw = hardwareProfile('validator-2socket')
  // kubelet reads the machine (NUMA nodes, their memory and huge pages) from sysfs
  createSysroot(root, hw, { cmdline: 'hugepagesz=1G hugepages=0:4,1:4', hostname: 'validator1' })
  assert.equal(startKubelet(root, hw, base), undefined)
  const cpu = JSON.parse(readFileSync(join(root, CPU_STATE), 'utf8'))
  assert.equal(cpu.policyName, 'static')
  assert.equal(JSON.parse(readFileSync(join(root, MEMORY_STATE), 'utf8')).policyName, 'Static')
  // the same config again: fine
  assert.equal(startKubelet(root, hw, base), undefined)
  // reservedSystemCPUs alone: the lab kubelet pinned no exclusive CPU, so every CPU is in defaultCpuSet
  assert.equal(startKubelet(root, hw, { ...base, reservedSystemCPUs: '0-3' }), undefined)
  assert.equal(
    startKubelet(root, hw, {
      ...base,
      reservedMemory: [
        { numaNode: 0, limits: { memory: '3Gi' } },
        { numaNode: 1, limits: { memory: '524Mi' } },
      ],
    }),
    'start memory manager error: [memorymanager] the expected machine state is different from the real one',
  )
  assert.match(
    startKubelet(root, hw, { cpuManagerPolicy: 'static', reservedSystemCPUs: '0,1' }) ?? '',
    /^start memory manager error: could not restore state from checkpoint: \[memorymanager\] configured policy "None" differs from state checkpoint policy "Static", please drain this node and delete the memory manager checkpoint file "\/var\/lib\/kubelet\/memory_manager_state" before restarting Kubelet$/,
  )
  // wiping EPHEMERAL (/var) takes the checkpoints with it: the new settings start
  wipeEphemeralKubeletState(root)
  assert.ok(!existsSync(join(root, MEMORY_STATE)))
  const changed = {
    ...base,
    reservedMemory: [
      { numaNode: 0, limits: { memory: '3Gi' } },
      { numaNode: 1, limits: { memory: '524Mi' } },
    ],
  }
  assert.equal(startKubelet(root, hw, changed), undefined)
  // CPU policy name change: Talos's handlePolicyChange removes cpu_manager_state, kubelet starts
  assert.equal(
    startKubelet(root, hw, { ...changed, cpuManagerPolicy: 'none', reservedSystemCPUs: undefined }),
    undefined,
  )
  assert.equal(JSON.parse(readFileSync(join(root, CPU_STATE), 'utf8')).policyName, 'none')
})
