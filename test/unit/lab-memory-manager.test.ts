// The lab's kubelet memory manager (lab/memory-manager.ts) against checkpoints and verdicts of kubelet v1.33.1's own
// code (test/fixtures/kubelet/README.md): the same checksums, the same JSON, the same start/refuse decisions.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  checkpointChecksum,
  defaultMachineState,
  hugepageResourceName,
  marshalCheckpoint,
  validateState,
  type MemoryManagerCheckpoint,
  type NumaNodeInfo,
} from '../../lab/memory-manager.ts'

const fixture = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../fixtures/kubelet/memory_manager_state.${name}.json`, import.meta.url)), 'utf8')
const load = (name: string) => JSON.parse(fixture(name)) as MemoryManagerCheckpoint

/** The lab validator (validator-2socket) booted with hugepages=0:a,1:b, node 0's MemTotal shifted by `shiftKiB`. */
function validator(pages: [number, number], shiftKiB = 0): NumaNodeInfo[] {
  return [0, 1].map((id) => ({
    id,
    memory: (32883340 + (id === 0 ? shiftKiB : -shiftKiB)) * 1024,
    hugepages: [
      { pageSizeKiB: 1048576, numPages: pages[id]! },
      { pageSizeKiB: 2048, numPages: 0 },
    ],
  }))
}
const reserved = { 0: { memory: 2 * 2 ** 30 }, 1: { memory: 1524 * 2 ** 20 } }

test("the checksum is kubelet's for every checkpoint kubelet wrote", () => {
  for (const name of ['empty-static', 'empty-none', 'validator-4-4', 'with-entries']) {
    const cp = load(name)
    assert.equal(checkpointChecksum(cp), cp.checksum, name)
  }
})

test('a changed byte changes the checksum (kubelet: "checkpoint is corrupted")', () => {
  const cp = load('validator-4-4')
  cp.machineState!['1']!.memoryMap!.memory!.total += 4096
  assert.notEqual(checkpointChecksum(cp), load('validator-4-4').checksum)
  assert.notEqual(checkpointChecksum({ ...load('empty-static'), policyName: 'static' }), 3940083781)
})

test('the machine state of the 4 + 4 validator is byte for byte what kubelet wrote', () => {
  const state = defaultMachineState(validator([4, 4]), reserved)
  assert.equal(marshalCheckpoint({ policyName: 'Static', machineState: state }), fixture('validator-4-4').trim())
  assert.equal(marshalCheckpoint({ policyName: 'Static', machineState: {} }), fixture('empty-static').trim())
  assert.equal(marshalCheckpoint(load('with-entries')), fixture('with-entries').trim())
})

test("kubelet's verdicts: the checkpointed machine, more huge pages, a shift of 131253's size or of one page", () => {
  const cp = load('validator-4-4')
  const at = (nodes: NumaNodeInfo[]) => validateState(cp, defaultMachineState(nodes, reserved))
  assert.ok('state' in at(validator([4, 4])))
  const refused = { error: '[memorymanager] the expected machine state is different from the real one' }
  assert.deepEqual(at(validator([6, 6])), refused)
  assert.deepEqual(at(validator([4, 4], 42672)), refused)
  assert.deepEqual(at(validator([4, 4], 4)), refused)
})

test('recorded assignments count: the checkpoint with a pinned container passes on its machine', () => {
  assert.ok('state' in validateState(load('with-entries'), defaultMachineState(validator([4, 4]), reserved)))
  assert.ok('error' in validateState(load('with-entries'), defaultMachineState(validator([4, 4], 42672), reserved)))
})

test('an empty machine state takes the machine as it is now, whatever it is', () => {
  const machine = defaultMachineState(validator([6, 6], 42672), reserved)
  assert.deepEqual(validateState(load('empty-static'), machine), { state: machine })
  assert.deepEqual(validateState({ machineState: {}, entries: { pod: {} } }, machine), {
    error: '[memorymanager] machine state can not be empty when it has memory assignments',
  })
})

test('huge page resource names as kubelet derives them from the page size', () => {
  assert.equal(hugepageResourceName(1048576), 'hugepages-1Gi')
  assert.equal(hugepageResourceName(2048), 'hugepages-2Mi')
  assert.equal(hugepageResourceName(64), 'hugepages-64Ki')
})
