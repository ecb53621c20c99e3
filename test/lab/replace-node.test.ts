// Issue 16 (12-replace-node) against a small lab of its own (127.0.130.x: three control planes and one worker,
// deployed by 01→04): a control plane whose machine lost its disks refuses while a second one is down (quorum),
// then is replaced; a worker that lost its disks is replaced. Each time through the entry points, as an SRE runs them.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'replace-node-'))
const labDir = join(tmp, 'lab')
const outDir = join(tmp, 'out')
const inv = join(tmp, 'inventory.yaml')
const env = {
  ...process.env,
  TALOS_LAB_DIR: labDir,
  TALOS_RUNBOOKS_STATE_DIR: join(tmp, 'state'),
  CI: 'true',
  NO_COLOR: '1',
}

function sh(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { cwd: REPO, env, encoding: 'utf8', timeout: 6 * 60_000, stdio: 'pipe' })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}
const lab = (...args: string[]) => {
  const r = sh('npx', ['tsx', 'lab/cli.ts', ...args])
  assert.equal(r.code, 0, r.out)
  return r.out
}
const runbook = (name: string, ...flags: string[]) =>
  sh('npx', ['zx', `runbooks/${name}.ts`, '--inventory', inv, ...flags])
const talosctl = (...args: string[]) =>
  sh(join(REPO, 'lab/bin/talosctl'), ['--talosconfig', join(outDir, 'talosconfig'), ...args])
const node = (n: string) => JSON.parse(readFileSync(join(labDir, 'nodes', n, 'node.json'), 'utf8'))

/** `talosctl etcd members` rows as [hostname, learner], read by the header's column names. */
function members(via: string): string[][] {
  const r = talosctl('-n', via, 'etcd', 'members')
  assert.equal(r.code, 0, r.out)
  const [head, ...rows] = r.out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
  // PEER URLS and CLIENT URLS hold a space in the header: LEARNER is the last column
  const host = head!.indexOf('HOSTNAME')
  return rows.map((c) => [c[host]!, c[c.length - 1]!]).sort((a, b) => a[0]!.localeCompare(b[0]!))
}

before(() => {
  const doc = parse(
    readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
      .replaceAll('127.0.10.', '127.0.130.')
      .replaceAll('.lab/', `${labDir}/`),
  ) as { cluster: Record<string, unknown>; nodes: { name: string }[]; validator?: unknown }
  doc.cluster.name = 'solana-replace'
  doc.cluster.outputDir = outDir
  doc.nodes = doc.nodes.filter((n) => n.name !== 'validator1')
  delete doc.validator
  writeFileSync(inv, stringify(doc))
  const up = sh('npx', ['tsx', 'lab/cli.ts', 'up', '--inventory', inv])
  assert.equal(up.code, 0, up.out)
  for (const rb of ['01-provision', '02-configure', '03-bootstrap', '04-join']) {
    const r = runbook(rb, '--yes')
    assert.equal(r.code, 0, `${rb}: ${r.out.slice(-3000)}`)
  }
})

after(() => {
  sh('npx', ['tsx', 'lab/cli.ts', 'down'])
  rmSync(tmp, { recursive: true, force: true })
})

test('disk-loss: the machine comes back blank in maintenance mode, new disk serial, its member still listed', () => {
  const serial = node('cp2').hardware.disks[0].serial
  const said = lab('fault', 'cp2', 'disk-loss')
  assert.match(said, /cp2: powered off/)
  assert.match(said, /its etcd member stays in the member list/)
  assert.deepEqual(
    members('127.0.130.11').map((m) => m[0]),
    ['cp1', 'cp2', 'cp3'],
  )
  lab('heal', 'cp2')
  const n = node('cp2')
  assert.equal(n.stage, 'maintenance')
  assert.notEqual(n.hardware.disks[0].serial, serial)
  const insecure = sh(join(REPO, 'lab/bin/talosctl'), ['-n', '127.0.130.12', 'get', 'machinestatus', '--insecure'])
  assert.equal(insecure.code, 0, insecure.out)
  assert.match(insecure.out, /maintenance/)
})

test('12 refuses (exit 3) while a second control plane is down, names 11-etcd-recover, and changes nothing', () => {
  lab('fault', 'cp3', 'down')
  const r = runbook('12-replace-node', '--node', 'cp2', '--yes')
  lab('heal', 'cp3')
  assert.equal(r.code, 3, r.out.slice(-3000))
  assert.match(r.out, /only 1 of the 2 other members run etcd \(2 needed\); cp3: /)
  assert.match(r.out, /11-etcd-recover\.ts/)
  assert.equal(members('127.0.130.11').length, 3)
})

/** cp2's member ID as cp1 sees it. */
const cp2Id = () => /^\S+\s+([0-9a-f]{16})\s+cp2\s/m.exec(talosctl('-n', '127.0.130.11', 'etcd', 'members').out)?.[1]

test('12 replaces cp2: dead member removed, new machine joins as a learner and is promoted; a re-run changes nothing', () => {
  const deadId = cp2Id()
  assert.ok(deadId)
  const r = runbook('12-replace-node', '--node', 'cp2', '--yes')
  assert.equal(r.code, 0, r.out.slice(-5000))
  assert.match(r.out, new RegExp(`etcd remove-member ${deadId}`))
  assert.notEqual(cp2Id(), deadId) // a new member, not the dead one brought back
  assert.match(r.out, /cp2 replaced; the cluster passes the checks/)
  assert.deepEqual(members('127.0.130.11'), [
    ['cp1', 'false'],
    ['cp2', 'false'],
    ['cp3', 'false'],
  ])
  const again = runbook('12-replace-node', '--node', 'cp2', '--yes')
  assert.equal(again.code, 0, again.out.slice(-3000))
  assert.match(again.out, /cp2 is alive and healthy: nothing to replace/)
  assert.doesNotMatch(again.out, /remove-member [0-9a-f]/)
})

test('12 replaces a worker: the old Node is drained and deleted, the new machine registers and is Ready', () => {
  lab('fault', 'worker1', 'disk-loss')
  lab('heal', 'worker1')
  const r = runbook('12-replace-node', '--node', 'worker1', '--yes')
  assert.equal(r.code, 0, r.out.slice(-5000))
  assert.match(r.out, /kubectl .*delete node worker1/)
  assert.match(r.out, /worker1 replaced; the cluster passes the checks/)
})
