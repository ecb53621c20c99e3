// checks/solana: fdctl's host thresholds on what /proc/sys shows, and the rlimits of the CRI base spec
// (lib/host/solana-limits.ts), with the lab's model of that spec.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { solanaHostLimits, solanaRuntimeLimits } from '../../checks/defs/solana.ts'
import { CRI_BASE_SPEC, mergeSpec, writeCriBaseSpec } from '../../lab/cri-base-spec.ts'
import {
  HOST_LIMITS,
  hostLimitsFor,
  netProviderSysctls,
  hostLimitPath,
  judgeHostLimit,
  validatorRuntimeSpecOverrides,
} from '../../lib/host/solana-limits.ts'
import type { CheckInventory } from '../../checks/engine/inventory.ts'

const inv = parseYaml(readFileSync(new URL('../../inventory/example.yaml', import.meta.url), 'utf8')) as CheckInventory
const limit = (key: string) => HOST_LIMITS.find((l) => l.key === key)!
/** /proc/sys of a Talos v1.10.3 validator rendered from inventory/example.yaml (no kernel.numa_balancing file). */
const good = {
  'vm.max_map_count': '1048576',
  'fs.file-max': '9223372036854775807',
  'fs.nr_open': '1048576',
  // fdctl's default XDP provider: what the validator's config renders for lo, and the always-on JIT
  'net.ipv4.conf.lo.rp_filter': '2',
  'net.ipv4.conf.lo.accept_local': '1',
  'net.ipv4.conf.lo.route_localnet': '1',
  'net.core.bpf_jit_enable': '1',
}
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
  assert.equal(ok.length, hostLimitsFor('xdp').length)
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

test("solana.host-limits on fdctl's XDP provider: lo at the kernel's 0 fails; a JIT that is off is fdctl's warning", () => {
  const r = run({ ...good, 'net.ipv4.conf.lo.rp_filter': '0', 'net.core.bpf_jit_enable': '0' })
  const byTarget = Object.fromEntries(r.map((x) => [x.target, x]))
  assert.equal(byTarget['validator1/net.ipv4.conf.lo.rp_filter']!.status, 'fail')
  assert.match(
    byTarget['validator1/net.ipv4.conf.lo.rp_filter']!.message,
    /net\.ipv4\.conf\.lo\.rp_filter is 0, fdctl wants ≥ 2 \(.*sysctl\.c:57-62\)/,
  )
  assert.equal(byTarget['validator1/net.core.bpf_jit_enable']!.status, 'warn')
  // route_localnet may be missing (fdctl's allow_missing)
  const { ['net.ipv4.conf.lo.route_localnet']: _, ...noLocalnet } = good
  assert.ok(run(noLocalnet).every((x) => x.status === 'pass'))
})

test('the socket provider swaps the XDP limits for rmem_max/wmem_max ≥ 128 MiB; the validator renders what each needs', () => {
  assert.deepEqual(
    hostLimitsFor('socket')
      .slice(HOST_LIMITS.length)
      .map((l) => `${l.key} ${l.value}`),
    ['net.core.rmem_max 134217728', 'net.core.wmem_max 134217728'],
  )
  const socketInv = { ...inv, validator: { ...inv.validator!, netProvider: 'socket' as const } }
  const r = solanaHostLimits.evaluate(
    { hostLimits: { values: { validator1: { ...good, 'net.core.rmem_max': '212992' } }, errors: {} } },
    socketInv,
  )
  assert.deepEqual(
    r.filter((x) => x.status !== 'pass').map((x) => x.target),
    ['validator1/net.core.rmem_max', 'validator1/net.core.wmem_max'],
  )
  assert.deepEqual(netProviderSysctls('xdp'), {
    'net.ipv4.conf.lo.rp_filter': '2',
    'net.ipv4.conf.lo.accept_local': '1',
    'net.ipv4.conf.lo.route_localnet': '1',
  })
})

test('solana.host-limits: a node whose /proc/sys could not be read is one failure naming the cause', () => {
  const r = solanaHostLimits.evaluate({ hostLimits: { values: {}, errors: { validator1: 'connection refused' } } }, inv)
  assert.equal(r.length, 1)
  assert.equal(r[0]!.status, 'fail')
  assert.match(r[0]!.message, /connection refused/)
})

const spec = (rlimits?: unknown[]) => JSON.stringify({ ociVersion: '1.2.0', process: { cwd: '/', rlimits } })
const runtime = (json: string) =>
  solanaRuntimeLimits.evaluate({ criBaseSpec: { values: { validator1: json }, errors: {} } }, inv)

test('solana.runtime-limits: the rendered overrides pass; containerd defaults (no rlimits) fail memlock only', () => {
  const rendered = validatorRuntimeSpecOverrides().process.rlimits
  assert.ok(runtime(spec(rendered)).every((r) => r.status === 'pass'))
  const none = runtime(spec(undefined))
  assert.deepEqual(
    none.map((r) => `${r.target} ${r.status}`),
    ['validator1/RLIMIT_MEMLOCK fail', 'validator1/RLIMIT_NOFILE pass'],
  )
  assert.match(none[0]!.message, /RLIMIT_MEMLOCK is not set.*reboot/)
  assert.equal(none[1]!.evidence.seen, '(inherited 1048576)')
})

test('solana.runtime-limits: a soft limit below the minimum fails even with a high hard one; the last entry wins', () => {
  const low = runtime(spec([{ type: 'RLIMIT_MEMLOCK', hard: 4_000_000_000, soft: 65536 }]))
  assert.equal(low[0]!.status, 'fail')
  assert.match(low[0]!.message, /soft 65536, hard 4000000000; the validator needs ≥ 2000000000/)
  const twice = runtime(
    spec([
      { type: 'RLIMIT_MEMLOCK', hard: 2_000_000_000, soft: 2_000_000_000 },
      { type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 },
    ]),
  )
  assert.equal(twice.find((r) => r.target.endsWith('RLIMIT_NOFILE'))!.status, 'fail')
  assert.equal(runtime('{not json')[0]!.status, 'fail')
})

test("the lab's base spec: Talos's merge (maps merged, lists appended) over a default without rlimits", () => {
  assert.deepEqual(mergeSpec({ a: { b: 1, l: [1] }, c: 2 }, { a: { l: [2], d: 3 }, c: 4 }), {
    a: { b: 1, l: [1, 2], d: 3 },
    c: 4,
  })
  const dir = mkdtempSync(join(tmpdir(), 'cri-spec-'))
  try {
    writeCriBaseSpec(dir, validatorRuntimeSpecOverrides())
    const file = join(dir, CRI_BASE_SPEC)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.ok(runtime(readFileSync(file, 'utf8')).every((r) => r.status === 'pass'))
    writeCriBaseSpec(dir, {})
    assert.equal(runtime(readFileSync(file, 'utf8'))[0]!.status, 'fail')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
