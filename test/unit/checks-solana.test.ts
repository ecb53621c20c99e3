// checks/solana: fdctl's host thresholds (lib/host/solana-limits.ts) judged on what /proc/sys shows.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { solanaHostLimits } from '../../checks/defs/solana.ts'
import { HOST_LIMITS, hostLimitPath, judgeHostLimit } from '../../lib/host/solana-limits.ts'
import type { CheckInventory } from '../../checks/engine/inventory.ts'

const inv = parseYaml(readFileSync(new URL('../../inventory/example.yaml', import.meta.url), 'utf8')) as CheckInventory
const limit = (key: string) => HOST_LIMITS.find((l) => l.key === key)!
/** /proc/sys of a Talos v1.10.3 validator rendered from inventory/example.yaml (no kernel.numa_balancing file). */
const good = { 'vm.max_map_count': '1048576', 'fs.file-max': '9223372036854775807', 'fs.nr_open': '1048576' }
const run = (values: Record<string, string>) =>
  solanaHostLimits.evaluate({ hostLimits: { values: { validator1: values }, errors: {} } }, inv)

test('fdctl thresholds: minimums and the exact numa_balancing, each citing its line in sysctl.c', () => {
  assert.deepEqual(
    HOST_LIMITS.map((l) => `${l.key} ${l.rule} ${l.value}`),
    [
      'vm.max_map_count minimum 1000000',
      'fs.file-max minimum 1024000',
      'fs.nr_open minimum 1024000',
      'kernel.numa_balancing exact 0',
    ],
  )
  for (const l of HOST_LIMITS) assert.match(l.source, /configure\/sysctl\.c:\d+-\d+$/)
  assert.equal(hostLimitPath('fs.file-max'), '/proc/sys/fs/file-max')
})

test('judge: at the minimum passes, one below fails naming the value; a missing file passes only where fdctl allows', () => {
  assert.equal(judgeHostLimit(limit('vm.max_map_count'), '1000000').ok, true)
  const low = judgeHostLimit(limit('vm.max_map_count'), '999999\n')
  assert.equal(low.ok, false)
  assert.match(low.why, /^vm\.max_map_count is 999999, fdctl wants ≥ 1000000 \(.*sysctl\.c:29-34\)$/)
  assert.equal(judgeHostLimit(limit('fs.nr_open'), undefined).ok, false)
  assert.equal(judgeHostLimit(limit('kernel.numa_balancing'), undefined).ok, true)
  assert.equal(judgeHostLimit(limit('kernel.numa_balancing'), '0').ok, true)
  assert.equal(judgeHostLimit(limit('kernel.numa_balancing'), '1').ok, false)
  assert.equal(judgeHostLimit(limit('fs.file-max'), 'garbage').ok, false)
})

test('solana.host-limits: the example validator passes; the kernel default max_map_count fails naming it', () => {
  const ok = run(good)
  assert.equal(ok.length, HOST_LIMITS.length)
  assert.ok(
    ok.every((r) => r.status === 'pass'),
    JSON.stringify(ok),
  )
  assert.equal(ok.find((r) => r.target === 'validator1/kernel.numa_balancing')?.evidence.seen, '(absent)')

  const bad = run({ ...good, 'vm.max_map_count': '65530', 'kernel.numa_balancing': '1' })
  const failed = bad.filter((r) => r.status === 'fail')
  assert.deepEqual(
    failed.map((r) => r.target),
    ['validator1/vm.max_map_count', 'validator1/kernel.numa_balancing'],
  )
  assert.match(failed[0]!.message, /validator1: vm\.max_map_count is 65530, fdctl wants ≥ 1000000/)
})

test('solana.host-limits: a node whose /proc/sys could not be read is one failure naming the cause', () => {
  const r = solanaHostLimits.evaluate({ hostLimits: { values: {}, errors: { validator1: 'connection refused' } } }, inv)
  assert.equal(r.length, 1)
  assert.equal(r[0]!.status, 'fail')
  assert.match(r[0]!.message, /connection refused/)
})
