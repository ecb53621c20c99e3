// The whole product against a fresh lab of its own (127.0.70.x): runbooks 01→08 unattended, then what an SRE
// relies on: configs that pass the official schema at 0600, a re-run of 03 that never bootstraps twice, a
// dry run that changes nothing, the real kubectl, checks that catch a crashed etcd member, and a clean `down`.
// Then the faults, each stopped safely with a clear message and resumed: a wrong rescue host key (01), etcd
// members down and quorum lost, a node down before and during apply-config, a hanging call, the API down on
// every control plane, and a Ctrl-C in the middle of a runbook.
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

const commandsLogs = () =>
  ['cp1', 'cp2', 'cp3', 'validator1', 'worker1'].map((n) => {
    const f = join(labDir, 'ssh', n, 'commands.log')
    return existsSync(f) ? readFileSync(f, 'utf8') : ''
  })

test('01 refuses (exit 3) when a rescue host key does not match the inventory, and writes no disk anywhere', () => {
  const wrong = join(tmp, 'inventory-wrong-hostkey.yaml')
  const pinned = `file:${labDir}/ssh/cp2/host_key.fingerprint`
  const text = readFileSync(inv, 'utf8')
  assert.ok(text.includes(pinned))
  writeFileSync(wrong, text.replace(pinned, 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'))
  const r = sh('npx', ['zx', 'runbooks/01-provision.ts', '--inventory', wrong, '--yes'])
  assert.equal(r.code, 3, r.out.slice(-3000))
  assert.match(r.out, /refusing to write any disk:\n\s+cp2: host key of 127\.0\.70\.12:\d+ is SHA256:\S+, but the inventory pins SHA256:A{43}/)
  assert.ok(commandsLogs().every((log) => !/\bdd of=/.test(log)), 'a disk was written')
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

// ---------------------------------------------------------------- faults: each stops safely, says why, and resumes

const lab = (...args: string[]) => {
  const r = sh('npx', ['tsx', 'lab/cli.ts', ...args])
  assert.equal(r.code, 0, r.out)
}
/** The inventory with one more sysctl on the validator: a config change 02 has to apply to validator1 only. */
function inventoryWithSysctl(name: string, value: string): string {
  const file = join(tmp, `inventory-${name}-${value}.yaml`)
  writeFileSync(file, readFileSync(inv, 'utf8').replace('    vm.swappiness: "0"\n', `    vm.swappiness: "0"\n    ${name}: "${value}"\n`))
  return file
}
const runbookOn = (file: string, name: string, ...flags: string[]) => sh('npx', ['zx', `runbooks/${name}.ts`, '--inventory', file, ...flags])

test('one etcd member down: runbooks warn and go on; two down: they refuse (exit 3) and say why; healed: they run', () => {
  lab('fault', 'cp3', 'down')
  const one = runbook('05-storage-tuning', '--yes')
  assert.equal(one.code, 0, one.out.slice(-3000))
  assert.match(one.out, /etcd keeps quorum with 2 of 3 members \(cp1, cp2\); down: cp3: 127\.0\.70\.13 does not answer/)
  lab('fault', 'cp2', 'etcd-crash')
  for (const rb of ['05-storage-tuning', '03-bootstrap', '02-configure']) {
    const r = runbook(rb, '--yes')
    assert.equal(r.code, 3, `${rb}: ${r.out.slice(-3000)}`)
    assert.match(r.out, /etcd has lost quorum: only 1 of 3 control-plane members can run \(2 needed\)/, rb)
    assert.match(r.out, /cp2: etcd is Finished/, rb)
  }
  lab('heal', 'cp2')
  lab('heal', 'cp3')
  let r = runbook('05-storage-tuning', '--yes')
  for (let i = 0; i < 5 && r.code !== 0; i++) r = runbook('05-storage-tuning', '--yes')
  assert.equal(r.code, 0, r.out.slice(-3000))
  assert.match(r.out, /resuming 05-storage-tuning at etcd-quorum/)
})

test('a node down before apply-config: 02 stops before applying anything, then applies once it is back', () => {
  const changed = inventoryWithSysctl('net.core.netdev_max_backlog', '30000')
  const before = configVersions()
  lab('fault', 'validator1', 'down')
  const r = runbookOn(changed, '02-configure', '--yes')
  assert.equal(r.code, 1, r.out.slice(-3000))
  assert.match(r.out, /validator1 \(127\.0\.70\.21\): Talos answers on neither the maintenance nor the authenticated API.*nothing has been applied to any node/)
  assert.deepEqual(configVersions(), before)
  lab('heal', 'validator1')
  const again = runbookOn(changed, '02-configure', '--yes')
  assert.equal(again.code, 0, again.out.slice(-3000))
  assert.match(again.out, /resuming 02-configure at diff/)
  const after = configVersions()
  assert.deepEqual(after.map((v, i) => v - before[i]!), [0, 0, 0, 1, 0], 'only validator1 gets the new config')
})

test('a node that dies during apply-config: 02 waits for every apply, names the node, and the re-run finishes the job', () => {
  const changed = inventoryWithSysctl('net.core.netdev_max_backlog', '40000')
  const before = configVersions()
  // talosctl that takes validator1 down just as its apply-config starts: the node dies mid-apply
  const wrapper = join(tmp, 'talosctl-dies-on-apply')
  writeFileSync(
    wrapper,
    `#!/bin/sh\ncase "$*" in *apply-config*127.0.70.21*|*127.0.70.21*apply-config*) (cd '${REPO}' && npx tsx lab/cli.ts fault validator1 down >/dev/null 2>&1) ;; esac\nexec '${join(REPO, 'lab/bin/talosctl')}' "$@"\n`,
    { mode: 0o755 },
  )
  const r = spawnSync('npx', ['zx', 'runbooks/02-configure.ts', '--inventory', changed, '--yes'], { cwd: REPO, env: { ...env, TALOSCTL: wrapper }, encoding: 'utf8', timeout: 8 * 60_000 })
  const out = `${r.stdout}${r.stderr}`
  printed.push(out)
  assert.equal(r.status, 1, out.slice(-3000))
  assert.match(out, /apply-config failed on 1 node\(s\):\n\s+validator1: .*127\.0\.70\.21/)
  assert.match(out, /resumes at apply/)
  assert.deepEqual(configVersions(), before)
  lab('heal', 'validator1')
  const again = runbookOn(changed, '02-configure', '--yes')
  assert.equal(again.code, 0, again.out.slice(-3000))
  assert.match(again.out, /resuming 02-configure at apply/)
  assert.deepEqual(configVersions().map((v, i) => v - before[i]!), [0, 0, 0, 1, 0])
})

test('a call that hangs: --call-timeout stops it with a message naming the node and the limit, and the re-run goes through', () => {
  lab('fault', 'worker1', 'slow', '--ms', '20000')
  try {
    const r = runbook('02-configure', '--yes', '--call-timeout', '4s')
    assert.equal(r.code, 1, r.out.slice(-3000))
    assert.match(r.out, /worker1 \(127\.0\.70\.22\): .*timed out after 4000 ms/)
  } finally {
    lab('heal', 'worker1')
  }
  const again = runbook('02-configure', '--yes')
  assert.equal(again.code, 0, again.out.slice(-3000))
  assert.match(again.out, /resuming 02-configure at diff/)
})

test('the Kubernetes API down on every control plane: checks fail naming the API; healed, they pass', () => {
  for (const cp of ['cp1', 'cp2', 'cp3']) lab('fault', cp, 'api-down')
  try {
    const r = sh('npx', ['zx', 'checks/cluster.ts', '--inventory', inv])
    assert.equal(r.code, 1, r.out.slice(-3000))
    assert.match(r.out, /cluster\.nodes-ready/)
    assert.match(r.out, /refused|Unable to connect|does not answer/i)
  } finally {
    for (const cp of ['cp1', 'cp2', 'cp3']) lab('heal', cp)
  }
  let ok = sh('npx', ['zx', 'checks/cluster.ts', '--inventory', inv])
  for (let i = 0; i < 10 && ok.code !== 0; i++) ok = sh('npx', ['zx', 'checks/cluster.ts', '--inventory', inv])
  assert.equal(ok.code, 0, ok.out.slice(-3000))
})

test('an interrupted runbook (Ctrl-C) stops cleanly, and the next run resumes at the interrupted step', async () => {
  const { spawn } = await import('node:child_process')
  const journal = join(tmp, 'state', 'journal.jsonl')
  const lines = () => readFileSync(journal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { runbook: string; step: string; event: string; runId: string })
  const seen = lines().length
  const child = spawn('npx', ['zx', 'runbooks/04-join.ts', '--inventory', inv, '--yes'], { cwd: REPO, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })))
  // Ctrl-C reaches the whole foreground process group, once the run is inside a step after etcd-quorum
  for (let i = 0; i < 600 && !lines().slice(seen).some((l) => l.runbook === '04-join' && l.event === 'start' && l.step !== 'etcd-quorum'); i++) await new Promise((r) => setTimeout(r, 50))
  process.kill(-child.pid!, 'SIGINT')
  const { code, signal } = await exited
  printed.push(out)
  // npx itself dies of the SIGINT (a shell shows 130 either way); the runbook under it says it stopped
  assert.ok(code === 130 || signal === 'SIGINT', `exit ${code} ${signal}: ${out.slice(-3000)}`)
  assert.match(out, /04-join interrupted: the next run resumes where it stopped/)
  const stopped = lines().slice(seen).find((l) => l.runbook === '04-join' && l.event === 'interrupted')
  assert.ok(stopped, `no interrupted event in the journal:\n${out.slice(-2000)}`)
  const again = runbook('04-join', '--yes')
  assert.equal(again.code, 0, again.out.slice(-3000))
  assert.match(again.out, new RegExp(`resuming 04-join at ${stopped.step} \\(previous run ${stopped.runId} was interrupted there`))
})

// ---------------------------------------------------------------- issue 12 (i12a): silent nodes during checks

type ChecksDoc = { results: { check: string; target: string; message: string }[] }
/** checks/all.ts --json: its one JSON document (stdout) and everything it printed. */
function checksJson(...args: string[]) {
  const t0 = Date.now()
  const r = spawnSync('npx', ['zx', 'checks/all.ts', '--inventory', inv, '--json', ...args], { cwd: REPO, env, encoding: 'utf8', timeout: 5 * 60_000 })
  const out = `${r.stdout}${r.stderr}`
  printed.push(out)
  return { code: r.status, out, ms: Date.now() - t0, doc: (r.stdout.trim() ? JSON.parse(r.stdout) : { results: [] }) as ChecksDoc }
}

test('checks: a validator that is down or hangs is one failure naming it and the cause, within --call-timeout', () => {
  const talosChecks = /^(numa|hugepages\.(cmdline|meminfo|numa)|sysctls|kernel|kubelet|storage)\./
  lab('fault', 'validator1', 'down')
  try {
    const r = checksJson('--call-timeout', '5s')
    assert.equal(r.code, 1, r.out.slice(-3000))
    const api = r.doc.results.filter((x) => x.check === 'talos.api')
    assert.deepEqual(api.map((x) => x.target), ['validator1'], JSON.stringify(api))
    assert.match(api[0]!.message, /^validator1 \(127\.0\.70\.21\) does not answer: .*connection refused/)
    assert.deepEqual(r.doc.results.filter((x) => x.target === 'validator1' && talosChecks.test(x.check)), [])
  } finally {
    lab('heal', 'validator1')
  }
  lab('fault', 'validator1', 'slow', '--ms', '30000')
  try {
    const r = checksJson('--only', 'numa,hugepages', '--call-timeout', '4s')
    assert.equal(r.code, 1, r.out.slice(-3000))
    const api = r.doc.results.filter((x) => x.check === 'talos.api')
    assert.deepEqual(api.map((x) => x.target), ['validator1'], JSON.stringify(api))
    assert.match(api[0]!.message, /does not answer: no answer within \d+ ms \(--call-timeout\)/)
    assert.ok(r.ms < 4000 + 12_000, `took ${r.ms} ms`)
  } finally {
    lab('heal', 'validator1')
  }
})

// ---------------------------------------------------------------- end of issue 12 (i12a)

test('lab down stops every process it started', () => {
  const pids = labPids()
  assert.ok(pids.length >= 6, `expected etcd and API server pids, got ${pids}`)
  const r = sh('npx', ['tsx', 'lab/cli.ts', 'down'])
  assert.equal(r.code, 0, r.out)
  assert.deepEqual(pids.filter(alive), [])
  assert.equal(existsSync(labDir), false)
})
