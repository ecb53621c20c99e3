// lib/host/cpu-online.ts: which CPUs nosmt, maxcpus= and nr_cpus= leave offline, and why (Linux 6.12 kernel/cpu.c).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpuLimitingArgs, offlineAfterBoot, whyOffline, type CpuTopology } from '../../lib/host/cpu-online.ts'

/** 32 CPUs, cores {c, c+16} as Linux numbers a two-socket x86 machine (the lab's validator-2socket). */
const split: CpuTopology = {
  present: Array.from({ length: 32 }, (_, i) => i),
  siblings: new Map(Array.from({ length: 32 }, (_, i) => [i, [i % 16, (i % 16) + 16]])),
}
/** 8 CPUs, cores {2k, 2k+1}: siblings numbered next to each other. */
const adjacent: CpuTopology = {
  present: Array.from({ length: 8 }, (_, i) => i),
  siblings: new Map(Array.from({ length: 8 }, (_, i) => [i, [i - (i % 2), i - (i % 2) + 1]])),
}

test('cpuLimitingArgs: the last of each wins; other args and malformed values are ignored', () => {
  assert.deepEqual(cpuLimitingArgs('console=ttyS0 maxcpus=8 maxcpus=24 nr_cpus=x nosmt=force'), {
    maxcpus: 24,
    nrCpus: undefined,
    nosmt: true,
  })
  assert.deepEqual(cpuLimitingArgs(['nosmt=other', 'hugepages=4']), {
    maxcpus: undefined,
    nrCpus: undefined,
    nosmt: false,
  })
})

test('nosmt keeps the first thread of each core, whatever the numbering', () => {
  assert.equal(whyOffline(0, 'nosmt', split), undefined)
  assert.equal(whyOffline(15, 'nosmt', split), undefined)
  assert.equal(
    whyOffline(16, 'nosmt', split),
    "nosmt keeps only the first thread of each core, and CPU 16 is the second of 0's",
  )
  assert.deepEqual(
    offlineAfterBoot([0, 1, 2, 3], ['nosmt'], adjacent).map((o) => o.cpu),
    [1, 3],
  )
  assert.deepEqual(offlineAfterBoot([0, 16], [], split), [])
})

test('maxcpus=N brings up the first N present CPUs, counting the siblings nosmt refuses; nr_cpus=N removes the rest', () => {
  assert.equal(whyOffline(23, 'maxcpus=24', split), undefined)
  assert.equal(whyOffline(24, 'maxcpus=24', split), 'maxcpus=24 brings up only the first 24 CPUs (0-23)')
  assert.equal(whyOffline(24, 'nr_cpus=24', split), 'nr_cpus=24 makes CPUs 24 and above impossible')
  // siblings next to each other: maxcpus=4 nosmt tries 0-3 and only 0 and 2 come up (cpuhp_bringup_mask)
  assert.deepEqual(
    offlineAfterBoot([0, 1, 2, 3, 4], 'maxcpus=4 nosmt', adjacent).map((o) => o.cpu),
    [1, 3, 4],
  )
  // maxcpus=0 still has the boot CPU
  assert.equal(whyOffline(0, 'maxcpus=0', split), undefined)
  assert.match(whyOffline(40, '', split)!, /CPU 40 is not present on this machine \(present: 0-31\)/)
})
