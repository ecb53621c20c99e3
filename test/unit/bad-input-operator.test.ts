// What a new operator runs into (issue 12): nodes that do not answer during checks, credentials where they do not
// belong, secrets in error messages, exit codes, unreadable inventories. Every case goes through the command the
// operator types and asserts the exit code, where the problem is, that nothing was written anywhere and that no
// secret reaches the terminal.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { assertNothingWritten, REPO, sandbox, ZX, type Ran } from './entry-point-sandbox.ts'

const { tmp, run } = sandbox('bad-input-operator-')
const LAB_TALOSCTL = join(REPO, 'lab/bin/talosctl')
const LAB_INVENTORY = readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')

/** inventory/lab.yaml moved to 127.0.91.x (where nothing listens: no lab runs there) with its own output dir. */
function silentInventory(name: string): { file: string; outDir: string } {
  const dir = join(tmp, name)
  const outDir = join(dir, 'out')
  mkdirSync(outDir, { recursive: true, mode: 0o700 })
  const file = join(dir, 'inventory.yaml')
  writeFileSync(file, LAB_INVENTORY.replaceAll('127.0.10.', '127.0.91.').replace('outputDir: out/solana-lab', `outputDir: ${outDir}`))
  return { file, outDir }
}

/** A talosconfig for the silent cluster, made the way 02 makes one (gen secrets, gen config -t talosconfig). */
async function talosconfigFor(outDir: string): Promise<void> {
  const secrets = join(outDir, 'secrets.yaml')
  const cfg = join(outDir, 'talosconfig')
  for (const args of [
    ['gen', 'secrets', '-o', secrets],
    ['gen', 'config', 'solana-lab', 'https://127.0.91.10:6443', '--with-secrets', secrets, '--output-types', 'talosconfig', '-o', cfg],
    ['--talosconfig', cfg, 'config', 'endpoint', '127.0.91.11', '127.0.91.12', '127.0.91.13'],
    ['--talosconfig', cfg, 'config', 'node', '127.0.91.11'],
  ]) {
    const r = await run('gen-talosconfig', [LAB_TALOSCTL, ...args])
    assert.equal(r.code, 0, r.out)
  }
}

const json = (r: Ran) => JSON.parse(r.stdout) as { results: { check: string; target: string; status: string; message: string }[] }
const NODES = ['cp1', 'cp2', 'cp3', 'validator1', 'worker1']
// the checks that need the node itself to answer (they read it through the Talos API)
const TALOS_CHECKS = ['numa.topology', 'sysctls.values', 'kernel.modules', 'kernel.args', 'hugepages.cmdline', 'hugepages.meminfo', 'hugepages.numa', 'kubelet.config', 'storage.mounts', 'cluster.etcd-service', 'cluster.kubelet-service']

// ---------------------------------------------------------------- 1. checks against nodes that do not answer

const CALL_TIMEOUT_MS = 3000
let failFast: Ran | undefined

test('checks --only numa, validator not answering: one failure naming the node and the cause, at once', { timeout: 180_000 }, async () => {
  const { file, outDir } = silentInventory('numa-silent')
  await talosconfigFor(outDir)
  const r = await run('numa-silent', [ZX, 'checks/all.ts', '--inventory', file, '--only', 'numa', '--json', '--call-timeout', '3s'])
  failFast = r
  assert.equal(r.code, 1, r.out)
  const { results } = json(r)
  assert.equal(results.length, 1, r.stdout)
  const [only] = results
  assert.equal(only!.status, 'fail')
  assert.equal(only!.target, 'validator1')
  assert.match(only!.message, /validator1 \(127\.0\.91\.21\) does not answer: .*(no route to host|connection refused)/)
  assert.ok(r.ms < CALL_TIMEOUT_MS + 15_000, `took ${r.ms} ms`)
  assertNothingWritten(r, 'checks --only numa')
})

test('checks, every node silent and the validator hanging: ends within --call-timeout, one failure per node', { timeout: 180_000 }, async () => {
  const { file, outDir } = silentInventory('all-silent')
  await talosconfigFor(outDir)
  // the validator accepts the call and never answers (a hung apid): every call to it would wait out the timeout
  const hang = join(tmp, 'talosctl-hang')
  writeFileSync(hang, `#!/bin/sh\ncase "$*" in *127.0.91.21*) exec sleep 120 ;; esac\nexec '${LAB_TALOSCTL}' "$@"\n`)
  chmodSync(hang, 0o755)
  const r = await run('all-silent', [ZX, 'checks/all.ts', '--inventory', file, '--json', '--call-timeout', '3s'], { env: { TALOSCTL: hang } })
  assert.equal(r.code, 1, r.out)
  const { results } = json(r)
  for (const n of NODES) {
    const mine = results.filter((x) => x.check === 'talos.api' && x.target === n)
    assert.equal(mine.length, 1, `${n}: ${JSON.stringify(mine)}`)
    assert.match(mine[0]!.message, new RegExp(`^${n} \\(127\\.0\\.91\\.\\d+\\) does not answer: `))
  }
  assert.match(results.find((x) => x.target === 'validator1' && x.check === 'talos.api')!.message, /no answer within \d+ ms/)
  const repeated = results.filter((x) => TALOS_CHECKS.includes(x.check) && NODES.some((n) => x.target === n || x.target.startsWith(`${n}/`)))
  assert.deepEqual(repeated, [], 'a silent node was asked again')
  // one call timeout on top of what the same run costs when every node fails at once
  const base = failFast?.ms ?? 10_000
  assert.ok(r.ms < base + CALL_TIMEOUT_MS + 8000, `took ${r.ms} ms (fail-fast run: ${base} ms)`)
  assertNothingWritten(r, 'checks with silent nodes')
})

test('checks with talosctl missing say the tool is missing, not that the node has no NUMA nodes', { timeout: 120_000 }, async () => {
  const { file } = silentInventory('no-talosctl')
  const missing = join(tmp, 'nowhere', 'talosctl')
  const r = await run('no-talosctl', [ZX, 'checks/all.ts', '--inventory', file, '--only', 'numa', '--call-timeout', '3s'], { env: { TALOSCTL: missing } })
  assert.equal(r.code, 1, r.out)
  assert.match(r.out, new RegExp(`talosctl is missing: ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} cannot be run`))
  assert.doesNotMatch(r.out, /no NUMA nodes/)
  assert.match(r.out, /0 passed, 0 warned, 1 failed/)
  assertNothingWritten(r, 'checks without talosctl')
})

// ---------------------------------------------------------------- 12. the quorum step needs evidence

test('02 and 03 with no control plane answering refuse (exit 3) naming every node; nothing is rendered or applied', { timeout: 120_000 }, async () => {
  const { file, outDir } = silentInventory('quorum-silent')
  await talosconfigFor(outDir)
  const before = readdirSync(outDir).sort()
  const configure = await run('quorum-02', [ZX, 'runbooks/02-configure.ts', '--inventory', file, '--yes'])
  assert.equal(configure.code, 3, configure.out)
  assert.doesNotMatch(configure.out, /no quorum to lose/)
  assert.match(configure.out, /✖ etcd-quorum .*no control-plane node answers/)
  for (const [n, ip] of [['cp1', '127.0.91.11'], ['cp2', '127.0.91.12'], ['cp3', '127.0.91.13']]) assert.match(configure.out, new RegExp(`${n}: ${ip.replaceAll('.', '\\.')} does not answer`))
  assert.match(configure.out, /Nothing was changed/)
  const bootstrap = await run('quorum-03', [ZX, 'runbooks/03-bootstrap.ts', '--inventory', file, '--yes'])
  assert.equal(bootstrap.code, 3, bootstrap.out)
  assert.match(bootstrap.out, /cannot tell whether etcd was bootstrapped: cp1, cp2, cp3 did not answer/)
  assert.deepEqual(readdirSync(outDir).sort(), before, 'a config was written')
})
