// The whole product against a fresh lab of its own (127.0.70.x): runbooks 01→08 unattended, then what an SRE
// relies on: configs that pass the official schema at 0600, a re-run of 03 that never bootstraps twice, a
// dry run that changes nothing, the real kubectl, checks that catch a crashed etcd member, and a clean `down`.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { lintMachineConfig } from '../../lib/lint.ts'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const SCHEMA = fileURLToPath(new URL('../../../shared/talos/config.schema.json', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'e2e-'))
const labDir = join(tmp, 'lab')
const outDir = join(tmp, 'out')
const inv = join(tmp, 'inventory.yaml')
const env = { ...process.env, TALOS_LAB_DIR: labDir, TALOS_RUNBOOKS_STATE_DIR: join(tmp, 'state'), CI: 'true', NO_COLOR: '1' }

// everything every command printed, for the secrets test at the end
const printed: string[] = []
function sh(cmd: string, args: string[], timeoutMs = 8 * 60_000) {
  const r = spawnSync(cmd, args, { cwd: REPO, env, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] })
  printed.push(`${r.stdout}${r.stderr}`)
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

/** Secret strings of the cluster: every long string in the secrets bundle, and the client keys. */
function secretValues(): string[] {
  const out: string[] = []
  const walk = (v: unknown) => {
    if (typeof v === 'string' && v.length >= 16) out.push(v)
    else if (v && typeof v === 'object') Object.values(v).forEach(walk)
  }
  walk(parse(readFileSync(join(outDir, 'secrets.yaml'), 'utf8')))
  const tc = parse(readFileSync(join(outDir, 'talosconfig'), 'utf8')) as { contexts: Record<string, { key: string }> }
  for (const c of Object.values(tc.contexts)) out.push(c.key)
  const kc = parse(readFileSync(join(outDir, 'kubeconfig'), 'utf8')) as { users: { user: { 'client-key-data': string } }[] }
  for (const u of kc.users) out.push(u.user['client-key-data'])
  // a PEM travels base64-encoded in the bundle: its decoded body lines are secret too
  return out.flatMap((s) => [s, ...Buffer.from(s, 'base64').toString().split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'))])
}

const filesUnder = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? filesUnder(join(dir, d.name)) : [join(dir, d.name)])) : []
const runbook = (name: string, ...flags: string[]) => sh('npx', ['zx', `runbooks/${name}.ts`, '--inventory', inv, ...flags])
const labPids = () => {
  const c = JSON.parse(readFileSync(join(labDir, 'lab.json'), 'utf8')) as { processes: { pid: number }[]; nodes: string[] }
  const nodePids = c.nodes.flatMap((n) => {
    const j = JSON.parse(readFileSync(join(labDir, 'nodes', n, 'node.json'), 'utf8')) as { etcd: { pid?: number }; kubeApi: { pid?: number } }
    return [j.etcd.pid, j.kubeApi.pid].filter((p): p is number => !!p)
  })
  return [...c.processes.map((p) => p.pid), ...nodePids]
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')
  } catch {
    return false
  }
}
const configVersions = () =>
  ['cp1', 'cp2', 'cp3', 'validator1', 'worker1'].map((n) => (JSON.parse(readFileSync(join(labDir, 'nodes', n, 'node.json'), 'utf8')) as { configVersion: number }).configVersion)

before(() => {
  const text = readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
    .replaceAll('127.0.10.', '127.0.70.')
    .replaceAll('.lab/', `${labDir}/`)
    .replace(/outputDir: \S+/, `outputDir: ${outDir}`)
    .replace('name: solana-lab', 'name: solana-e2e')
  writeFileSync(inv, text)
  const up = sh('npx', ['tsx', 'lab/cli.ts', 'up', '--inventory', inv])
  assert.equal(up.code, 0, up.out)
})

after(() => {
  sh('npx', ['tsx', 'lab/cli.ts', 'down'])
  rmSync(tmp, { recursive: true, force: true })
})

for (const rb of ['01-provision', '02-configure', '03-bootstrap', '04-join', '05-storage-tuning', '06-verify', '07-smoke-pod']) {
  test(`${rb} runs unattended against the lab`, () => {
    const r = runbook(rb, '--yes')
    assert.equal(r.code, 0, r.out.slice(-3000))
    assert.match(r.out, /TARGET: LAB/)
  })
}

test('every node got a config that lints clean against the official schema, mode 0600, secrets 0600', () => {
  const configs = readdirSync(outDir).filter((f) => /^(cp\d|validator1|worker1)\.yaml$/.test(f))
  assert.equal(configs.length, 5)
  for (const f of [...configs, 'secrets.yaml', 'talosconfig', 'kubeconfig']) {
    assert.equal(statSync(join(outDir, f)).mode & 0o777, 0o600, f)
  }
  for (const f of configs) {
    const findings = lintMachineConfig(readFileSync(join(outDir, f), 'utf8'), f, { schemaPath: SCHEMA }).filter((x) => x.severity === 'error')
    assert.deepEqual(findings, [], f)
  }
})

test('a second 03-bootstrap is a no-op that never bootstraps twice', () => {
  const r = runbook('03-bootstrap', '--yes')
  assert.equal(r.code, 0, r.out.slice(-2000))
  assert.match(r.out, /already bootstrapped/)
  assert.doesNotMatch(r.out, /\$ \S*talosctl .* bootstrap\s*$/m)
})

test('02 --dry-run and a re-run of 02 change no node', () => {
  const before = configVersions()
  const dry = runbook('02-configure', '--dry-run', '--from', 'secrets')
  assert.equal(dry.code, 0, dry.out.slice(-2000))
  const again = runbook('02-configure', '--yes')
  assert.equal(again.code, 0, again.out.slice(-2000))
  assert.match(again.out, /nothing to apply/)
  assert.deepEqual(configVersions(), before)
})

test('the real kubectl sees five Ready nodes', () => {
  const r = sh('kubectl', ['--kubeconfig', join(outDir, 'kubeconfig'), 'get', 'nodes', '-o', 'wide'])
  assert.equal(r.code, 0, r.out)
  for (const n of ['cp1', 'cp2', 'cp3', 'validator1', 'worker1']) assert.match(r.out, new RegExp(`^${n}\\s+Ready\\s`, 'm'))
  assert.match(r.out, /INTERNAL-IP/)
})

test('checks/etcd.ts fails naming a crashed member, and passes once it is healed', () => {
  assert.equal(sh('npx', ['tsx', 'lab/cli.ts', 'fault', 'cp2', 'etcd-crash']).code, 0)
  const bad = sh('npx', ['zx', 'checks/etcd.ts', '--inventory', inv, '--json'])
  assert.equal(bad.code, 1, bad.out.slice(-2000))
  const report = JSON.parse(bad.out.slice(bad.out.indexOf('{'), bad.out.lastIndexOf('}') + 1)) as { results: { status: string; target: string; message: string }[] }
  assert.ok(report.results.some((x) => x.status === 'fail' && /cp2/.test(`${x.target} ${x.message}`)), bad.out.slice(-2000))
  assert.equal(sh('npx', ['tsx', 'lab/cli.ts', 'heal', 'cp2']).code, 0)
  let good = sh('npx', ['zx', 'checks/etcd.ts', '--inventory', inv])
  for (let i = 0; i < 10 && good.code !== 0; i++) good = sh('npx', ['zx', 'checks/etcd.ts', '--inventory', inv])
  assert.equal(good.code, 0, good.out.slice(-2000))
})

test('a wrong sysctl and wrong per-NUMA huge pages on the validator fail the right checks', () => {
  const root = join(labDir, 'nodes', 'validator1', 'root')
  const sysctl = join(root, 'proc/sys/vm/max_map_count')
  const pages = join(root, 'sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages')
  const [goodSysctl, goodPages] = [readFileSync(sysctl, 'utf8'), readFileSync(pages, 'utf8')]
  writeFileSync(sysctl, '65530\n')
  writeFileSync(pages, '2\n')
  try {
    const s = sh('npx', ['zx', 'checks/sysctls.ts', '--inventory', inv])
    assert.equal(s.code, 1, s.out.slice(-2000))
    assert.match(s.out, /FAIL.*vm\.max_map_count/)
    const h = sh('npx', ['zx', 'checks/hugepages.ts', '--inventory', inv])
    assert.equal(h.code, 1, h.out.slice(-2000))
    assert.match(h.out, /FAIL hugepages\.numa validator1\/node1/)
  } finally {
    writeFileSync(sysctl, goodSysctl)
    writeFileSync(pages, goodPages)
  }
})

test('no secret value appears in any output, the journal or the stored reports', () => {
  const secrets = secretValues()
  assert.ok(secrets.length >= 10, `only ${secrets.length} secrets found`)
  const places = [
    ...printed.map((text, i) => ({ where: `output of command #${i}`, text })),
    ...filesUnder(join(tmp, 'state')).map((f) => ({ where: f, text: readFileSync(f, 'utf8') })),
  ]
  const leaks = places.flatMap((p) => secrets.filter((s) => p.text.includes(s)).map((s) => `${p.where}: ${s.slice(0, 12)}…`))
  assert.deepEqual(leaks, [])
  assert.equal(statSync(outDir).mode & 0o777, 0o700)
  const mustIgnore = ['out/solana-lab/secrets.yaml', 'out/solana-lab/kubeconfig', 'state/journal.jsonl', '.lab/nodes']
  const ignored = spawnSync('git', ['check-ignore', ...mustIgnore], { cwd: REPO, encoding: 'utf8' }).stdout.trim().split('\n')
  assert.deepEqual(ignored, mustIgnore)
})

test('08-failover refuses with a control-plane node down, then passes the drill once it is back', () => {
  assert.equal(sh('npx', ['tsx', 'lab/cli.ts', 'fault', 'cp3', 'down']).code, 0)
  const refused = runbook('08-failover', '--yes')
  assert.notEqual(refused.code, 0)
  assert.match(refused.out, /cp3/)
  assert.equal(sh('npx', ['tsx', 'lab/cli.ts', 'heal', 'cp3']).code, 0)
  const drill = runbook('08-failover', '--yes', '--from', 'preflight')
  assert.equal(drill.code, 0, drill.out.slice(-3000))
  assert.match(drill.out, /etcd RTO: \d+ ms/)
})

test('lab down stops every process it started', () => {
  const pids = labPids()
  assert.ok(pids.length >= 6, `expected etcd and API server pids, got ${pids}`)
  const r = sh('npx', ['tsx', 'lab/cli.ts', 'down'])
  assert.equal(r.code, 0, r.out)
  assert.deepEqual(pids.filter(alive), [])
  assert.equal(existsSync(labDir), false)
})
