// The whole product against a fresh lab of its own (127.0.70.x): runbooks 01→08 unattended, then what an SRE
// relies on: configs that pass the official schema at 0600, a re-run of 03 that never bootstraps twice, a
// dry run that changes nothing, the real kubectl, checks that catch a crashed etcd member, and a clean `down`.
// Then the faults, each stopped safely with a clear message and resumed: a wrong rescue host key (01), etcd
// members down and quorum lost, a node down before and during apply-config, a hanging call, the API down on
// every control plane, and a Ctrl-C in the middle of a runbook.
import { NODE, TSX, ZX } from '../bin.ts'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { lintMachineConfig } from '../../config/lint.ts'
import { EMPTY_SCHEMATIC_ID } from '../../lib/talos/schematic.ts'
import { loadInventory } from '../../config/inventory.ts'
import { installerImageFor, renderNodeSchematic } from '../../config/render.ts'
import { ownerFromLs } from '../../checks/engine/sources.ts'
import { setOwner } from '../../lab/file-owners.ts'
import { currentVipHolder, parseVipLog } from '../../lab/vip-holders.ts'
import { realTalosctl } from '../../lab/go-builds.ts'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
/** The real talosctl v1.10.3 the runbooks run too (the preflight builds it). */
const TALOSCTL_BIN = realTalosctl()
const SCHEMA = fileURLToPath(new URL('../../templates/talos-v1.10.3/config.schema.json', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'e2e-'))
const labDir = join(tmp, 'lab')
const outDir = join(tmp, 'out')
const inv = join(tmp, 'inventory.yaml')
const env = {
  ...process.env,
  TALOS_LAB_DIR: labDir,
  // every cold pull of an installer image takes 5 s here, not the lab's 35–39 s (lab/registry.ts): the e2e pulls about
  // fifteen times; a pull longer than talosctl's call timeout is real-talosctl-power.test.ts's
  TALOS_LAB_IMAGE_PULL_MS: '5000',
  TALOS_RUNBOOKS_STATE_DIR: join(tmp, 'state'),
  CI: 'true',
  NO_COLOR: '1',
}

// everything every command printed, for the secrets test at the end
const printed: string[] = []
function sh(cmd: string, args: string[], timeoutMs = 8 * 60_000) {
  const r = spawnSync(cmd, args, {
    cwd: REPO,
    env,
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
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
  const kc = parse(readFileSync(join(outDir, 'kubeconfig'), 'utf8')) as {
    users: { user: { 'client-key-data': string } }[]
  }
  for (const u of kc.users) out.push(u.user['client-key-data'])
  // a PEM travels base64-encoded in the bundle: its decoded body lines are secret too
  return out.flatMap((s) => [
    s,
    ...Buffer.from(s, 'base64')
      .toString()
      .split('\n')
      .filter((l) => l.length >= 40 && !l.startsWith('-----')),
  ])
}

const filesUnder = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
        d.isDirectory() ? filesUnder(join(dir, d.name)) : [join(dir, d.name)],
      )
    : []
const runbook = (name: string, ...flags: string[]) =>
  sh(NODE, [...ZX, `runbooks/${name}.ts`, '--inventory', inv, ...flags])
const labPids = () => {
  const c = JSON.parse(readFileSync(join(labDir, 'lab.json'), 'utf8')) as {
    processes: { pid: number }[]
    nodes: string[]
  }
  const nodePids = c.nodes.flatMap((n) => {
    const j = JSON.parse(readFileSync(join(labDir, 'nodes', n, 'node.json'), 'utf8')) as {
      etcd: { pid?: number }
      kubeApi: { pid?: number }
    }
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
  ['cp1', 'cp2', 'cp3', 'validator1', 'worker1'].map(
    (n) =>
      (JSON.parse(readFileSync(join(labDir, 'nodes', n, 'node.json'), 'utf8')) as { configVersion: number })
        .configVersion,
  )

before(() => {
  const text = readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
    .replaceAll('127.0.10.', '127.0.70.')
    .replaceAll('.lab/', `${labDir}/`)
    .replace(/outputDir: \S+/, `outputDir: ${outDir}`)
    .replace('name: solana-lab', 'name: solana-e2e')
  writeFileSync(inv, text)
  const up = sh(NODE, [...TSX, 'lab/cli.ts', 'up', '--inventory', inv])
  assert.equal(up.code, 0, up.out)
})

after(() => {
  sh(NODE, [...TSX, 'lab/cli.ts', 'down'])
  // TALOS_TEST_KEEP_LABS=1 keeps the lab and the runbooks' output for a look after a failure (lab/testlab.ts)
  if (process.env.TALOS_TEST_KEEP_LABS !== '1') rmSync(tmp, { recursive: true, force: true })
  else console.error(`kept ${tmp}`)
})

const commandsLogs = () =>
  ['cp1', 'cp2', 'cp3', 'validator1', 'worker1'].map((n) => {
    const f = join(labDir, 'ssh', n, 'commands.log')
    return existsSync(f) ? readFileSync(f, 'utf8') : ''
  })

/** The lab factory's answer for the validator's disk image: 404 until its schematic is POSTed (issue 25 item 1). */
async function validatorDiskImageStatus(): Promise<number> {
  const i = loadInventory(inv)
  const { id } = renderNodeSchematic(
    i,
    i.nodes.find((n) => n.profile === 'validator')!,
  )
  const res = await fetch(`http://127.0.70.1:8080/image/${id}/v1.10.3/metal-amd64.raw.zst`, { method: 'HEAD' })
  return res.status
}

test("the lab's Image Factory does not know the validator's schematic before 01 POSTs it", async () => {
  assert.equal(await validatorDiskImageStatus(), 404)
})

test('01 refuses (exit 3) when a rescue host key does not match the inventory, and writes no disk anywhere', () => {
  const wrong = join(tmp, 'inventory-wrong-hostkey.yaml')
  const pinned = `file:${labDir}/ssh/cp2/host_key.fingerprint`
  const text = readFileSync(inv, 'utf8')
  assert.ok(text.includes(pinned))
  writeFileSync(wrong, text.replace(pinned, 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'))
  const r = sh(NODE, [...ZX, 'runbooks/01-provision.ts', '--inventory', wrong, '--yes'])
  assert.equal(r.code, 3, r.out.slice(-3000))
  assert.match(
    r.out,
    /refusing to write any disk:\n\s+cp2: host key of 127\.0\.70\.12:\d+ is SHA256:\S+, but the inventory pins SHA256:A{43}/,
  )
  assert.ok(
    commandsLogs().every((log) => !/\bdd of=/.test(log)),
    'a disk was written',
  )
})

for (const rb of [
  '01-provision',
  '02-configure',
  '03-bootstrap',
  '04-join',
  '05-storage-tuning',
  '06-verify',
  '07-smoke-pod',
]) {
  test(`${rb} runs unattended against the lab`, () => {
    const r = runbook(rb, '--yes')
    assert.equal(r.code, 0, r.out.slice(-3000))
    assert.match(r.out, /TARGET: LAB/)
  })
}

test("07 --validator-shape: the validator's pod runs in its namespace with its limits, capabilities and CPUs", () => {
  // Talos created the namespace from the control planes' inline manifest, with the PodSecurity label
  const ns = JSON.parse(
    sh('kubectl', ['--kubeconfig', join(outDir, 'kubeconfig'), 'get', 'namespace', 'solana', '-o', 'json']).out,
  ) as { metadata: { labels: Record<string, string> } }
  assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged')
  const r = runbook('07-smoke-pod', '--yes', '--validator-shape')
  assert.equal(r.code, 0, r.out.slice(-3000))
  assert.match(r.out, /talosctl .*containers -k/)
  assert.match(
    r.out,
    /pid \d+: memlock 2000000000, nofile 1048576, CPUs [\d,-]+ \(NUMA node \d\), capabilities NET_ADMIN/,
  )
})

test('07 --validator-shape in a namespace without the PodSecurity label fails, naming the reason', () => {
  const r = runbook('07-smoke-pod', '--yes', '--validator-shape', '--namespace', 'default')
  assert.equal(r.code, 1, r.out.slice(-3000))
  assert.match(
    r.out,
    /namespace default refuses the pod: violates PodSecurity "baseline:latest": non-default capabilities \(container "smoke" must not include "BPF", "NET_ADMIN", "NET_RAW", "PERFMON" in securityContext\.capabilities\.add\), host namespaces \(hostNetwork=true\)/,
  )
  assert.match(r.out, /kubectl label namespace default pod-security\.kubernetes\.io\/enforce=privileged/)
})

test("01 registered each schematic with the lab's Image Factory over HTTP, which now serves the validator's image", async () => {
  assert.equal(await validatorDiskImageStatus(), 200)
  const i = loadInventory(inv)
  const plain = installerImageFor(i, i.nodes[0]!)
  assert.equal(plain, `127.0.70.1:8080/metal-installer/${EMPTY_SCHEMATIC_ID}:v1.10.3`)
  const cp1 = readFileSync(join(outDir, 'cp1.yaml'), 'utf8')
  assert.ok(cp1.includes(`image: ${plain}`), 'the rendered install image is the factory one')
})

test('every node got a config that lints clean against the official schema, mode 0600, secrets 0600', () => {
  const configs = readdirSync(outDir).filter((f) => /^(cp\d|validator1|worker1)\.yaml$/.test(f))
  assert.equal(configs.length, 5)
  for (const f of [...configs, 'secrets.yaml', 'talosconfig', 'kubeconfig']) {
    assert.equal(statSync(join(outDir, f)).mode & 0o777, 0o600, f)
  }
  for (const f of configs) {
    const findings = lintMachineConfig(readFileSync(join(outDir, f), 'utf8'), f, { schemaPath: SCHEMA }).filter(
      (x) => x.severity === 'error',
    )
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
  for (const n of ['cp1', 'cp2', 'cp3', 'validator1', 'worker1'])
    assert.match(r.out, new RegExp(`^${n}\\s+Ready\\s`, 'm'))
  assert.match(r.out, /INTERNAL-IP/)
})

test('checks/etcd.ts fails naming a crashed member, and passes once it is healed', () => {
  assert.equal(sh(NODE, [...TSX, 'lab/cli.ts', 'fault', 'cp2', 'etcd-crash']).code, 0)
  const bad = sh(NODE, [...ZX, 'checks/etcd.ts', '--inventory', inv, '--json'])
  assert.equal(bad.code, 1, bad.out.slice(-2000))
  const report = JSON.parse(bad.out.slice(bad.out.indexOf('{'), bad.out.lastIndexOf('}') + 1)) as {
    results: { status: string; target: string; message: string }[]
  }
  assert.ok(
    report.results.some((x) => x.status === 'fail' && /cp2/.test(`${x.target} ${x.message}`)),
    bad.out.slice(-2000),
  )
  assert.equal(sh(NODE, [...TSX, 'lab/cli.ts', 'heal', 'cp2']).code, 0)
  let good = sh(NODE, [...ZX, 'checks/etcd.ts', '--inventory', inv])
  for (let i = 0; i < 10 && good.code !== 0; i++) good = sh(NODE, [...ZX, 'checks/etcd.ts', '--inventory', inv])
  assert.equal(good.code, 0, good.out.slice(-2000))
})

test("a wrong sysctl and wrong per-NUMA huge pages on the validator fail the right checks, fdctl's limits too", () => {
  // fdctl's thresholds hold on the deployed validator: the inventory's vm.max_map_count, the kernel's fs.nr_open and
  // fs.file-max, and no kernel.numa_balancing file in Talos's kernel
  const fd = sh(NODE, [...ZX, 'checks/solana.ts', '--inventory', inv])
  assert.equal(fd.code, 0, fd.out.slice(-2000))
  assert.match(fd.out, /^solana\.host-limits +\S*numa_balancing +PASS /m)
  const root = join(labDir, 'nodes', 'validator1', 'root')
  const sysctl = join(root, 'proc/sys/vm/max_map_count')
  const pages = join(root, 'sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages')
  const [goodSysctl, goodPages] = [readFileSync(sysctl, 'utf8'), readFileSync(pages, 'utf8')]
  writeFileSync(sysctl, '65530\n')
  writeFileSync(pages, '2\n')
  try {
    const s = sh(NODE, [...ZX, 'checks/sysctls.ts', '--inventory', inv])
    assert.equal(s.code, 1, s.out.slice(-2000))
    assert.match(s.out, /^sysctls\.\S+ +\S*vm\.max_map_count +FAIL /m)
    const f = sh(NODE, [...ZX, 'checks/solana.ts', '--inventory', inv])
    assert.equal(f.code, 1, f.out.slice(-2000))
    assert.match(f.out, /^solana\.host-limits +\S*vm\.max_map_count +FAIL /m)
    const h = sh(NODE, [...ZX, 'checks/hugepages.ts', '--inventory', inv])
    assert.equal(h.code, 1, h.out.slice(-2000))
    assert.match(h.out, /^hugepages\.numa +validator1\/node1 +FAIL /m)
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
  const leaks = places.flatMap((p) =>
    secrets.filter((s) => p.text.includes(s)).map((s) => `${p.where}: ${s.slice(0, 12)}…`),
  )
  assert.deepEqual(leaks, [])
  assert.equal(statSync(outDir).mode & 0o777, 0o700)
  const mustIgnore = ['out/solana-lab/secrets.yaml', 'out/solana-lab/kubeconfig', 'state/journal.jsonl', '.lab/nodes']
  const ignored = spawnSync('git', ['check-ignore', ...mustIgnore], { cwd: REPO, encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
  assert.deepEqual(ignored, mustIgnore)
})

// i13v: the drill that took down the VIP holder: its output, its target, when it started
let vipDrill = { out: '', target: '', startedAt: 0 }
test('08-failover refuses with a control-plane node down, then passes the drill once it is back', () => {
  assert.equal(sh(NODE, [...TSX, 'lab/cli.ts', 'fault', 'cp3', 'down']).code, 0)
  const refused = runbook('08-failover', '--yes')
  assert.notEqual(refused.code, 0)
  assert.match(refused.out, /cp3/)
  assert.equal(sh(NODE, [...TSX, 'lab/cli.ts', 'heal', 'cp3']).code, 0)
  // i13v: take down the node holding the VIP (the lab's holder log names it), so the drill measures the VIP's move
  // (a live holder: right after a heal the log's last acquirer may still be the process that crashed)
  let vipHolder: string | undefined
  for (let i = 0; i < 60 && !vipHolder; i++) {
    vipHolder = currentVipHolder(parseVipLog(readFileSync(join(labDir, 'vip-holders.log'), 'utf8')), alive)
    if (!vipHolder) spawnSync('sleep', ['0.5'])
  }
  assert.ok(vipHolder, 'nobody holds the VIP')
  const startedAt = Date.now()
  const drill = runbook('08-failover', '--yes', '--from', 'preflight', '--node', vipHolder)
  vipDrill = { out: drill.out, target: vipHolder, startedAt }
  assert.equal(drill.code, 0, drill.out.slice(-3000))
  assert.match(drill.out, /etcd RTO: \d+ ms/)
})

// ---------------------------------------------------------------- faults: each stops safely, says why, and resumes

const lab = (...args: string[]) => {
  const r = sh(NODE, [...TSX, 'lab/cli.ts', ...args])
  assert.equal(r.code, 0, r.out)
}
/** The inventory with one more sysctl on the validator: a config change 02 has to apply to validator1 only. */
function inventoryWithSysctl(name: string, value: string): string {
  const file = join(tmp, `inventory-${name}-${value}.yaml`)
  writeFileSync(
    file,
    readFileSync(inv, 'utf8').replace('    vm.swappiness: "0"\n', `    vm.swappiness: "0"\n    ${name}: "${value}"\n`),
  )
  return file
}
const runbookOn = (file: string, name: string, ...flags: string[]) =>
  sh(NODE, [...ZX, `runbooks/${name}.ts`, '--inventory', file, ...flags])

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
  // the real kube-apiservers answer again some seconds after etcd has its quorum back; 05 is re-run once they do, as
  // an operator would (a run while they do not would fail at its first kubectl step)
  const kubeconfig = join(outDir, 'kubeconfig')
  for (let i = 0; i < 120 && sh('kubectl', ['--kubeconfig', kubeconfig, 'get', '--raw', '/readyz']).code !== 0; i++)
    spawnSync('sleep', ['0.5'])
  let r = runbook('05-storage-tuning', '--yes')
  for (let i = 0; i < 5 && r.code !== 0 && /resuming 05-storage-tuning at etcd-quorum/.test(r.out); i++)
    r = runbook('05-storage-tuning', '--yes')
  assert.equal(r.code, 0, r.out.slice(-3000))
  assert.match(r.out, /resuming 05-storage-tuning at etcd-quorum/)
})

test('a node down before apply-config: 02 stops before applying anything, then applies once it is back', () => {
  const changed = inventoryWithSysctl('net.core.netdev_max_backlog', '30000')
  const before = configVersions()
  lab('fault', 'validator1', 'down')
  const r = runbookOn(changed, '02-configure', '--yes')
  assert.equal(r.code, 1, r.out.slice(-3000))
  assert.match(
    r.out,
    /validator1 \(127\.0\.70\.21\): Talos answers on neither the maintenance nor the authenticated API.*nothing has been applied to any node/,
  )
  assert.deepEqual(configVersions(), before)
  lab('heal', 'validator1')
  const again = runbookOn(changed, '02-configure', '--yes')
  assert.equal(again.code, 0, again.out.slice(-3000))
  assert.match(again.out, /resuming 02-configure at diff/)
  const after = configVersions()
  assert.deepEqual(
    after.map((v, i) => v - before[i]!),
    [0, 0, 0, 1, 0],
    'only validator1 gets the new config',
  )
})

test('a node that dies during apply-config: 02 waits for every apply, names the node, and the re-run finishes the job', () => {
  const changed = inventoryWithSysctl('net.core.netdev_max_backlog', '40000')
  const before = configVersions()
  // talosctl that takes validator1 down just as its apply-config starts: the node dies mid-apply
  const wrapper = join(tmp, 'talosctl-dies-on-apply')
  writeFileSync(
    wrapper,
    `#!/bin/sh\ncase "$*" in *apply-config*127.0.70.21*|*127.0.70.21*apply-config*) (cd '${REPO}' && npx tsx lab/cli.ts fault validator1 down >/dev/null 2>&1) ;; esac\nexec '${TALOSCTL_BIN}' "$@"\n`,
    { mode: 0o755 },
  )
  const r = spawnSync(NODE, [...ZX, 'runbooks/02-configure.ts', '--inventory', changed, '--yes'], {
    cwd: REPO,
    env: { ...env, TALOSCTL: wrapper },
    encoding: 'utf8',
    timeout: 8 * 60_000,
  })
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
  assert.deepEqual(
    configVersions().map((v, i) => v - before[i]!),
    [0, 0, 0, 1, 0],
  )
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
    const r = sh(NODE, [...ZX, 'checks/cluster.ts', '--inventory', inv])
    assert.equal(r.code, 1, r.out.slice(-3000))
    assert.match(r.out, /cluster\.nodes-ready/)
    assert.match(r.out, /refused|Unable to connect|does not answer/i)
  } finally {
    for (const cp of ['cp1', 'cp2', 'cp3']) lab('heal', cp)
  }
  let ok = sh(NODE, [...ZX, 'checks/cluster.ts', '--inventory', inv])
  for (let i = 0; i < 10 && ok.code !== 0; i++) ok = sh(NODE, [...ZX, 'checks/cluster.ts', '--inventory', inv])
  assert.equal(ok.code, 0, ok.out.slice(-3000))
})

test('an interrupted runbook (Ctrl-C) stops cleanly, and the next run resumes at the interrupted step', async () => {
  const { spawn } = await import('node:child_process')
  const journal = join(tmp, 'state', 'journal.jsonl')
  const lines = () =>
    readFileSync(journal, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { runbook: string; step: string; event: string; runId: string })
  const seen = lines().length
  const child = spawn(NODE, [...ZX, 'runbooks/04-join.ts', '--inventory', inv, '--yes'], {
    cwd: REPO,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('close', (code, signal) => res({ code, signal })),
  )
  // Ctrl-C reaches the whole foreground process group, once the run is inside a step after etcd-quorum
  for (
    let i = 0;
    i < 600 &&
    !lines()
      .slice(seen)
      .some((l) => l.runbook === '04-join' && l.event === 'start' && l.step !== 'etcd-quorum');
    i++
  )
    await new Promise((r) => setTimeout(r, 50))
  process.kill(-child.pid!, 'SIGINT')
  const { code, signal } = await exited
  printed.push(out)
  // npx itself dies of the SIGINT (a shell shows 130 either way); the runbook under it says it stopped
  assert.ok(code === 130 || signal === 'SIGINT', `exit ${code} ${signal}: ${out.slice(-3000)}`)
  assert.match(out, /04-join interrupted: the next run resumes where it stopped/)
  const stopped = lines()
    .slice(seen)
    .find((l) => l.runbook === '04-join' && l.event === 'interrupted')
  assert.ok(stopped, `no interrupted event in the journal:\n${out.slice(-2000)}`)
  const again = runbook('04-join', '--yes')
  assert.equal(again.code, 0, again.out.slice(-3000))
  assert.match(
    again.out,
    new RegExp(`resuming 04-join at ${stopped.step} \\(previous run ${stopped.runId} was interrupted there`),
  )
})

// ---------------------------------------------------------------- issue 11: output that fits a terminal (begin)
test('checks/all.ts prints at most 120 columns when stdout is not a terminal; --wide cuts nothing', () => {
  // the faults above may leave a check failing (e.g. storage owners after a reboot): the layout is what counts here
  const r = sh(NODE, [...ZX, 'checks/all.ts', '--inventory', inv])
  assert.ok(r.code === 0 || r.code === 1, r.out.slice(-3000))
  const lines = r.out.split('\n')
  const over = lines.filter((l) => [...l].length > 120)
  assert.deepEqual(over, [], `${over.length} line(s) over 120 columns`)
  assert.match(r.out, /^CHECK {3,}TARGET {3,}STATUS {3}SEEN {3,}WANTED$/m)
  assert.match(r.out, /^numa\.topology {3,}validator1 {3,}PASS {3,}/m)
  assert.match(r.out, /^\d+ passed, \d+ warned, \d+ failed$/m)
  const wide = sh(NODE, [...ZX, 'checks/all.ts', '--inventory', inv, '--wide', '--only', 'numa'])
  assert.equal(wide.code, 0, wide.out.slice(-3000))
  assert.doesNotMatch(wide.out, /…/)
})

test('checks/numa.ts shows the numactl --hardware text it rendered from the node, and on failure what was expected beside it', () => {
  const json = sh(NODE, [...ZX, 'checks/numa.ts', '--inventory', inv, '--json'])
  const report = JSON.parse(json.out.slice(json.out.indexOf('{'), json.out.lastIndexOf('}') + 1)) as {
    results: { target: string; evidence: { seen: { numactl: string } } }[]
  }
  const numactl = report.results.find((x) => x.target === 'validator1')!.evidence.seen.numactl
  assert.match(numactl, /^available: 2 nodes \(0-1\)\n/)
  const r = sh(NODE, [...ZX, 'checks/numa.ts', '--inventory', inv])
  assert.equal(r.code, 0, r.out.slice(-3000))
  const shown = numactl
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')
  assert.ok(r.out.includes(`validator1: numactl --hardware as numa.topology saw it (PASS)\n${shown}\n`), r.out)

  // node 1 says it is 30 away from node 0 while node 0 says 21: the check fails and shows the expectation beside
  const distance = join(labDir, 'nodes', 'validator1', 'root', 'sys/devices/system/node/node1/distance')
  const good = readFileSync(distance, 'utf8')
  writeFileSync(distance, good.replace(/^\d+/, '30'))
  try {
    const bad = sh(NODE, [...ZX, 'checks/numa.ts', '--inventory', inv])
    assert.equal(bad.code, 1, bad.out.slice(-3000))
    assert.match(bad.out, /^validator1: numactl --hardware as numa.topology saw it \(FAIL\)$/m)
    assert.match(bad.out, /^ {4}available: 2 nodes \(0-1\) +│ the inventory expects:$/m)
    assert.match(bad.out, /^ {4}node {3}0 {3}1 +│$/m)
    assert.match(bad.out, /^ {4}distances not symmetric: 0→1 21, back 30$/m)
  } finally {
    writeFileSync(distance, good)
  }
})
// ---------------------------------------------------------------- issue 11 (end)

// ---------------------------------------------------------------- issue 12 (i12a): silent nodes during checks

type ChecksDoc = { results: { check: string; target: string; message: string }[] }
/** checks/all.ts --json: its one JSON document (stdout) and everything it printed. */
function checksJson(...args: string[]) {
  const t0 = Date.now()
  const r = spawnSync(NODE, [...ZX, 'checks/all.ts', '--inventory', inv, '--json', ...args], {
    cwd: REPO,
    env,
    encoding: 'utf8',
    timeout: 5 * 60_000,
  })
  const out = `${r.stdout}${r.stderr}`
  printed.push(out)
  return {
    code: r.status,
    out,
    ms: Date.now() - t0,
    doc: (r.stdout.trim() ? JSON.parse(r.stdout) : { results: [] }) as ChecksDoc,
  }
}

test('checks: a validator that is down or hangs is one failure naming it and the cause, within --call-timeout', () => {
  const talosChecks = /^(numa|hugepages\.(cmdline|meminfo|numa)|sysctls|kernel|kubelet|storage)\./
  lab('fault', 'validator1', 'down')
  try {
    const r = checksJson('--call-timeout', '5s')
    assert.equal(r.code, 1, r.out.slice(-3000))
    const api = r.doc.results.filter((x) => x.check === 'talos.api')
    assert.deepEqual(
      api.map((x) => x.target),
      ['validator1'],
      JSON.stringify(api),
    )
    assert.match(api[0]!.message, /^validator1 \(127\.0\.70\.21\) does not answer: .*connection refused/)
    assert.deepEqual(
      r.doc.results.filter((x) => x.target === 'validator1' && talosChecks.test(x.check)),
      [],
    )
  } finally {
    lab('heal', 'validator1')
  }
  // Back, it answers at once on its own address, but through a control plane's apid only once that apid's connection
  // to it has redialled: apid backs off up to 15 s between dials to a machine that was down (backend/apid.go), and
  // until then answers "connection refused". The hang below is a new fault of a machine that was answering.
  for (const cp of ['127.0.70.11', '127.0.70.12', '127.0.70.13']) {
    const talosconfig = join(outDir, 'talosconfig')
    const answers = () =>
      sh(TALOSCTL_BIN, ['--talosconfig', talosconfig, '-e', cp, '-n', '127.0.70.21', 'version']).code === 0
    for (let i = 0; !answers(); i++) {
      assert.ok(i < 60, `validator1 never answered through ${cp}'s apid after it was back`)
      spawnSync('sleep', ['0.5'])
    }
  }
  lab('fault', 'validator1', 'slow', '--ms', '30000')
  try {
    const r = checksJson('--only', 'numa,hugepages', '--call-timeout', '4s')
    assert.equal(r.code, 1, r.out.slice(-3000))
    const api = r.doc.results.filter((x) => x.check === 'talos.api')
    assert.deepEqual(
      api.map((x) => x.target),
      ['validator1'],
      JSON.stringify(api),
    )
    assert.match(api[0]!.message, /does not answer: no answer within \d+ ms \(--call-timeout\)/)
    assert.ok(r.ms < 4000 + 12_000, `took ${r.ms} ms`)
  } finally {
    lab('heal', 'validator1')
  }
})

// ---------------------------------------------------------------- end of issue 12 (i12a)

// ---------------------------------------------------------------- issue 12 (branch i12b): dry runs write nothing

test("every runbook's --dry-run against the running lab leaves the journal, the output dir and the reports untouched", () => {
  const snapshot = () =>
    [...filesUnder(outDir), ...filesUnder(join(tmp, 'state'))]
      .sort()
      .map((f) => `${f} ${statSync(f).mtimeMs} ${statSync(f).size}`)
  const before = snapshot()
  const versions = configVersions()
  // 02 hands the configs it rendered into a temp dir to talosctl's own apply-config --dry-run
  const runs: [string, string[], number[]][] = [
    ['02-configure', ['--from', 'secrets'], [0]],
    ['03-bootstrap', [], [0]],
    ['04-join', [], [0]],
    ['05-storage-tuning', [], [0]],
    ['06-verify', [], [0, 1]], // its checks may fail after the faults above; it must not store a report either way
    ['07-smoke-pod', [], [0]],
  ]
  for (const [name, flags, exits] of runs) {
    const r = runbook(name, '--dry-run', ...flags)
    assert.ok(exits.includes(r.code ?? -1), `${name} --dry-run exit ${r.code}:\n${r.out.slice(-3000)}`)
    assert.deepEqual(snapshot(), before, `${name} --dry-run wrote to the output or state dir:\n${r.out.slice(-2000)}`)
  }
  assert.deepEqual(configVersions(), versions, 'a dry run changed a node')
})

// ---------------------------------------------------------------- issue 13 (i13b): images, kernel, kubelet state, talos health

const talosctl = (node: string, ...args: string[]) =>
  sh(TALOSCTL_BIN, ['--talosconfig', join(outDir, 'talosconfig'), '-e', '127.0.70.11', '-n', node, ...args])
const kubectl = (...args: string[]) => sh('kubectl', ['--kubeconfig', join(outDir, 'kubeconfig'), ...args])
const waitFor = (what: string, ok: () => boolean, tries = 40) => {
  for (let i = 0; i < tries; i++) {
    if (ok()) return
    spawnSync('sleep', ['0.5'])
  }
  assert.fail(`timed out waiting for ${what}`)
}
const nodeStatus = (name: string) => kubectl('get', 'node', name, '--no-headers').out.trim().split(/\s+/)[1]

test("i13b: each node boots with its own image: the validator with its schematic's huge pages, the others without", () => {
  const v = talosctl('127.0.70.21', 'read', '/proc/cmdline')
  assert.equal(v.code, 0, v.out)
  assert.match(
    v.out,
    /default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:4 hugepagesz=2M hugepages=0:128,1:128 irqaffinity=0,16 cpufreq\.default_governor=performance iommu=pt amd_pstate=active/,
  )
  for (const a of ['127.0.70.11', '127.0.70.22']) {
    const c = talosctl(a, 'read', '/proc/cmdline')
    assert.equal(c.code, 0, c.out)
    assert.doesNotMatch(c.out, /hugepages|iommu/, `${a} must not boot with the validator's args`)
  }
  const dmesg = talosctl('127.0.70.11', 'dmesg')
  assert.doesNotMatch(dmesg.out, /Invalid hugepages parameter/)
})

test('i13b: kernel.modules passes on the built-in tcp_bbr/sch_fq; cluster.talos-health reports every Talos condition', () => {
  const r = spawnSync(
    NODE,
    [...ZX, 'checks/all.ts', '--inventory', inv, '--json', '--only', 'kernel', '--only', 'cluster.talos-health'],
    { cwd: REPO, env, encoding: 'utf8', timeout: 120_000 },
  )
  printed.push(`${r.stdout}${r.stderr}`)
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`.slice(-3000))
  // --json: exactly one JSON document on stdout, logs on stderr
  const report = JSON.parse(r.stdout) as { results: { check: string; status: string; evidence: { seen: unknown } }[] }
  const mods = report.results.filter((x) => x.check === 'kernel.modules')
  assert.deepEqual(
    mods.map((x) => x.evidence.seen),
    ['built in', 'built in'],
  )
  assert.equal(report.results.find((x) => x.check === 'kernel.tcp-congestion')?.status, 'pass')
  const health = report.results.find((x) => x.check === 'cluster.talos-health')!
  assert.equal(health.status, 'pass')
  const conditions = health.evidence.seen as string[]
  // Talos deploys kube-proxy as a DaemonSet (its bootstrap manifests), so its check runs rather than skips
  for (const c of [
    'etcd to be healthy: OK',
    'all k8s nodes to report ready: OK',
    'all control plane static pods to be running: OK',
    'kube-proxy to report ready: OK',
  ])
    assert.ok(conditions.includes(c), conditions.join('\n'))
})

test('i13b: a reservedMemory change on the running validator: 02 refuses (exit 3) with the procedure; following it brings the node back', () => {
  const changed = join(tmp, 'inventory-reserved-memory.yaml')
  const original = readFileSync(inv, 'utf8')
  const swapped = original
    .replace('{ numaNode: 0, memory: 2Gi }', '{ numaNode: 0, memory: 1524Mi }')
    .replace('{ numaNode: 1, memory: 1524Mi }', '{ numaNode: 1, memory: 2Gi }')
  assert.notEqual(swapped, original)
  writeFileSync(changed, swapped)
  const before = configVersions()
  const refused = sh(NODE, [...ZX, 'runbooks/02-configure.ts', '--inventory', changed, '--yes'])
  assert.equal(refused.code, 3, refused.out.slice(-3000))
  assert.match(refused.out, /validator1: reservedMemory 0:2Gi,1:1524Mi → 0:1524Mi,1:2Gi: kubelet would refuse to start/)
  assert.match(
    refused.out,
    /talosctl -n 127\.0\.70\.21 reset --graceful=false --reboot --system-labels-to-wipe=EPHEMERAL/,
  )
  assert.deepEqual(configVersions(), before, 'nothing may be applied')
  // the procedure, for the change and back: drain, apply anyway (kubelet stops starting), wipe EPHEMERAL, uncordon
  for (const file of [changed, inv]) {
    assert.equal(kubectl('drain', 'validator1', '--ignore-daemonsets', '--delete-emptydir-data', '--force').code, 0)
    const applied = sh(NODE, [
      ...ZX,
      'runbooks/02-configure.ts',
      '--inventory',
      file,
      '--yes',
      '--allow-kubelet-policy-change',
    ])
    assert.equal(applied.code, 0, applied.out.slice(-3000))
    // kubelet stops and does not start again (the Node goes NotReady only after node-monitor-grace-period, 50 s: v1.33.1
    // pkg/controller/nodelifecycle/config/v1alpha1/defaults.go; not waited for here)
    const kubeletState = () => /STATE\s+(\w+)/.exec(talosctl('127.0.70.21', 'service', 'kubelet').out)?.[1]
    waitFor('validator1 kubelet Waiting', () => kubeletState() === 'Waiting', 120)
    assert.match(
      talosctl('127.0.70.21', 'logs', 'kubelet').out,
      /the expected machine state is different from the real one/,
    )
    const reset = talosctl('127.0.70.21', 'reset', '--graceful=false', '--reboot', '--system-labels-to-wipe=EPHEMERAL')
    assert.equal(reset.code, 0, reset.out)
    // the Node never went NotReady: Ready counts once kubelet runs again on the new boot
    waitFor('validator1 kubelet Running', () => kubeletState() === 'Running', 240)
    waitFor('validator1 Ready', () => /^Ready/.test(nodeStatus('validator1') ?? ''))
    const servingCsrPending = () => {
      const r = spawnSync('kubectl', ['--kubeconfig', join(outDir, 'kubeconfig'), 'get', 'csr', '-o', 'json'], {
        encoding: 'utf8',
      })
      const items = r.status === 0 ? (JSON.parse(r.stdout) as { items: any[] }).items : []
      return items.some(
        (c) =>
          c.spec.username === 'system:node:validator1' &&
          c.spec.signerName === 'kubernetes.io/kubelet-serving' &&
          !c.status?.conditions?.length,
      )
    }
    waitFor("validator1's new serving CSR", servingCsrPending, 120)
    // the wipe took the kubelet's serving certificate: its new request waits for 04's approval (the checks fail until)
    const pending = sh(NODE, [...ZX, 'checks/all.ts', '--inventory', inv, '--only', 'cluster.kubelet-serving-csr'])
    assert.equal(pending.code, 1, pending.out.slice(-3000))
    assert.match(pending.out, /validator1's kubelet asked for a serving certificate/)
    const joined = runbook('04-join', '--yes')
    assert.equal(joined.code, 0, joined.out.slice(-3000))
    assert.equal(kubectl('uncordon', 'validator1').code, 0)
  }
  const checks = sh(NODE, [...ZX, 'checks/all.ts', '--inventory', inv])
  assert.equal(checks.code, 0, checks.out.slice(-3000))
})

// ---------------------------------------------------------------- end of issue 13 (i13b)

// ---------------------------------------------------------------- the lab only behind the tools (issue 14, part 1)
// The runbooks and checks reach the lab as they reach real machines: owner and mode through `talosctl ls -l`,
// 08's node down with `talosctl shutdown` and back through its BMC (ipmi_sim, driven by the real ipmitool).

test('08 took its node down with talosctl shutdown and powered it back on through the BMC with ipmitool', () => {
  const drill = printed.find((o) => /drill passed: etcd RTO/.test(o))
  assert.ok(drill, 'no passing 08 drill in this run')
  assert.match(drill, /talosctl .*-n 127\.0\.70\.1\d .*shutdown --wait=false/)
  assert.match(
    drill,
    /ipmitool -I lanplus -C 3 -H 127\.0\.70\.1\d -p 6230 -U admin -f \S+\/bmc\/password chassis power on/,
  )
  assert.match(drill, /cp\d: powered on through its BMC \(127\.0\.70\.1\d:6230\)/)
  assert.doesNotMatch(
    drill,
    new RegExp(readFileSync(join(labDir, 'bmc/password'), 'utf8').trim()),
    'the BMC password is never printed',
  )
  for (const n of ['cp1', 'cp2', 'cp3'])
    assert.notEqual(JSON.parse(readFileSync(join(labDir, 'nodes', n, 'node.json'), 'utf8')).power, 'off', n)
})

test("volume data dirs' owner and mode come from talosctl ls -l: a chown on the node fails the storage check, 05 restores it", () => {
  const ls = (dir: string) =>
    sh(TALOSCTL_BIN, ['--talosconfig', join(outDir, 'talosconfig'), '-n', '127.0.70.21', 'ls', '-l', dir])
  const data = ls('/var/mnt/ledger/data')
  assert.equal(data.code, 0, data.out)
  assert.deepEqual(ownerFromLs(data.out, '127.0.70.21'), { uid: 1000, gid: 1000, mode: 'drwxr-x---' })
  // the mount root is as Talos leaves it after every mount (user_volume_config.go:160-167, mount.go:487): 05 never
  // touches it
  assert.deepEqual(ownerFromLs(ls('/var/mnt/ledger').out, '127.0.70.21'), { uid: 0, gid: 0, mode: 'drwxr-xr-x' })
  // someone changes the data dir's owner and mode on the node
  setOwner(join(labDir, 'nodes/validator1/root'), '/var/mnt/ledger/data', { uid: 0, gid: 0, mode: '0755' })
  const bad = sh(NODE, [...ZX, 'checks/storage.ts', '--inventory', inv])
  assert.equal(bad.code, 1, bad.out)
  assert.match(bad.out, /owner and mode of \/var\/mnt\/ledger\/data/)
  const fix = runbook('05-storage-tuning', '--yes')
  assert.equal(fix.code, 0, fix.out.slice(-3000))
  const good = sh(NODE, [...ZX, 'checks/storage.ts', '--inventory', inv])
  assert.equal(good.code, 0, good.out)
})

// ---------------------------------------------------------------- issue 15: 09-upgrade (begin)
const talosVersionsOfLab = () =>
  ['cp1', 'cp2', 'cp3', 'validator1', 'worker1'].map(
    (n) =>
      (JSON.parse(readFileSync(join(labDir, 'nodes', n, 'node.json'), 'utf8')) as { talosVersion: string })
        .talosVersion,
  )
/**
 * An edited copy of the inventory, and nothing else: no schematic posted and no image pasted by hand. The installer
 * images follow talosVersion and each node's schematic, and 09 registers a new schematic with the lab's Image Factory
 * over HTTP before any node pulls its image.
 */
function inventoryVariant(name: string, edit: (text: string) => string): string {
  const file = join(tmp, `inventory-09-${name}.yaml`)
  writeFileSync(file, edit(readFileSync(inv, 'utf8')))
  return file
}

test('09-upgrade on a cluster that runs what the inventory renders: the plan is empty and nothing is upgraded', () => {
  const r = runbook('09-upgrade', '--yes')
  assert.equal(r.code, 0, r.out.slice(-3000))
  assert.match(r.out, /Talos: every node runs what the inventory renders for it/)
  assert.doesNotMatch(r.out, / upgrade --image /)
})

test('09-upgrade --dry-run with a Talos patch bump plans all five nodes in order (control planes, worker, validator last) and changes nothing', () => {
  const bumped = inventoryVariant('v1.10.4', (t) => t.replace('talosVersion: v1.10.3', 'talosVersion: v1.10.4'))
  const r = runbookOn(bumped, '09-upgrade', '--dry-run', '--yes')
  assert.equal(r.code, 0, r.out.slice(-3000))
  const order = [
    ...r.out.matchAll(
      /^\s+\d\. (\S+) \((controlplane|worker|validator), [\d.]+\): v1\.10\.3 → v1\.10\.4 with \S+:v1\.10\.4$/gm,
    ),
  ].map((m) => m[1])
  assert.deepEqual(order, ['cp1', 'cp2', 'cp3', 'worker1', 'validator1'], r.out)
  assert.match(r.out, /would run talosctl -n 127\.0\.70\.21 upgrade --image \S+:v1\.10\.4 --wait=false/)
  assert.deepEqual(talosVersionsOfLab(), Array(5).fill('v1.10.3'))
})

test('09-upgrade --list with more huge pages for the validator plans the validator only and says which kernel args are missing', () => {
  const more = inventoryVariant('hugepages-6', (t) => t.replace('perNumaNode: [4, 4]', 'perNumaNode: [6, 6]'))
  const r = runbookOn(more, '09-upgrade', '--list')
  assert.equal(r.code, 0, r.out.slice(-3000))
  assert.match(r.out, /1\. validator1 \(validator, 127\.0\.70\.21\): v1\.10\.3 → v1\.10\.3 with /)
  // the validator's image changes schematic (its kernel args are part of it) and the args are not booted yet
  assert.match(
    r.out,
    /why: schematic [0-9a-f]{12} → [0-9a-f]{12}; kernel args missing from \/proc\/cmdline: hugepages=0:6,1:6$/m,
  )
  assert.doesNotMatch(r.out, /\d\. (cp\d|worker1) \(/)
})
const bootedAt = (n: string) =>
  (JSON.parse(readFileSync(join(labDir, 'nodes', n, 'node.json'), 'utf8')) as { bootedAt: string }).bootedAt
const bump = (t: string) => t.replace('talosVersion: v1.10.3', 'talosVersion: v1.10.4')

const IDENTITY = 'Vote111111111111111111111111111111111111111'

test('huge pages [4, 4] → [6, 6]: 02 says an upgrade is needed; 09 waits for the restart window, upgrades the validator only; the checks see 12 pages', async () => {
  // the lab's simulated Solana RPC: 400 ms slots, the identity leads 4 slots in every 25 (every 10 s)
  const sim = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'lab/solana-rpc.ts',
      '--host',
      '127.0.70.30',
      '--port',
      '8899',
      '--identity',
      IDENTITY,
      '--leader-every',
      '25',
    ],
    { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  try {
    const [url] = (await once(sim.stdout!, 'data')) as [Buffer]
    assert.equal(url.toString().trim(), 'http://127.0.70.30:8899')
    const solana = `\n  solana: { rpcUrl: "http://127.0.70.30:8899", identity: ${IDENTITY} }\n`
    const more = inventoryVariant(
      'hugepages-6-apply',
      (t) => t.replace('perNumaNode: [4, 4]', 'perNumaNode: [6, 6]') + solana,
    )
    const others = ['cp1', 'cp2', 'cp3', 'worker1'].map(bootedAt)
    const validatorBoot = bootedAt('validator1')
    const applied = runbookOn(more, '02-configure', '--yes')
    assert.equal(applied.code, 0, applied.out.slice(-3000))
    assert.match(
      applied.out,
      /validator1 boots without hugepages=0:6,1:6: kernel args take effect only through an upgrade; run npx zx runbooks\/09-upgrade\.ts/,
    )
    // a 12 s window never clears with a leader group every 10 s: the gate waits, then gives up without touching the node
    const blocked = runbookOn(
      more,
      '09-upgrade',
      '--yes',
      '--restart-window-minutes',
      '0.2',
      '--restart-window-timeout',
      '5s',
    )
    assert.equal(blocked.code, 1, blocked.out.slice(-3000))
    assert.match(blocked.out, new RegExp(`no restart window for ${IDENTITY} within 5 s: leader slot \\d+ in \\d+ s`))
    assert.equal(bootedAt('validator1'), validatorBoot, 'the validator was not restarted')
    // a 0.6 s window opens between leader groups: the validator is upgraded
    const r = runbookOn(more, '09-upgrade', '--yes', '--restart-window-minutes', '0.01')
    assert.equal(r.code, 0, r.out.slice(-3000))
    // nothing pasted by hand: 09 registered the new schematic with the lab's Image Factory over HTTP
    assert.match(r.out, /schematic [0-9a-f]{12}… registered with http:\/\/127\.0\.70\.1:8080 for validator1/)
    assert.match(r.out, /validator1: restart window open/)
    assert.match(r.out, /validator1: v1\.10\.3 \(down [\d.]+ s\)/)
    assert.deepEqual(['cp1', 'cp2', 'cp3', 'worker1'].map(bootedAt), others, 'only the validator rebooted')
  } finally {
    sim.kill('SIGTERM')
  }
  const more = join(tmp, 'inventory-09-hugepages-6-apply.yaml')
  const checks = sh(NODE, [...ZX, 'checks/hugepages.ts', '--inventory', more])
  assert.equal(checks.code, 0, checks.out.slice(-3000))
  assert.match(checks.out, /^hugepages\.allocatable +validator1 +PASS +12Gi +12Gi$/m)
})

test("issue 21 item 10: the validator on 6 + 6 pages, rebooted twice (talosctl reboot): memory moves between its NUMA nodes, kubelet's memory manager starts anew, Ready each time; the checks pass", () => {
  const more = join(tmp, 'inventory-09-hugepages-6-apply.yaml')
  const nodeTotals = () =>
    [0, 1].map((n) =>
      Number(
        /MemTotal:\s+(\d+) kB/.exec(
          talosctl('127.0.70.21', 'read', `/sys/devices/system/node/node${n}/meminfo`).out,
        )![1],
      ),
    )
  // the huge page upgrade above left kubelet running with the new pages
  assert.doesNotMatch(talosctl('127.0.70.21', 'service', 'kubelet').out, /Waiting/)
  for (let i = 0; i < 2; i++) {
    const totals = nodeTotals()
    const boot = bootedAt('validator1')
    const r = talosctl('127.0.70.21', 'reboot', '--wait=false')
    assert.equal(r.code, 0, r.out)
    waitFor('validator1 to boot', () => bootedAt('validator1') !== boot)
    assert.notDeepEqual(nodeTotals(), totals, 'the boot moved memory between the NUMA nodes')
    waitFor('validator1 Ready', () => /^Ready/.test(nodeStatus('validator1') ?? ''))
    assert.doesNotMatch(talosctl('127.0.70.21', 'service', 'kubelet').out, /Waiting/)
    const cp = JSON.parse(talosctl('127.0.70.21', 'read', '/var/lib/kubelet/memory_manager_state').out)
    assert.equal(cp.machineState['0'].memoryMap['hugepages-1Gi'].total, 6 * 2 ** 30)
    assert.equal(cp.machineState['0'].memoryMap.memory.total, nodeTotals()[0]! * 1024)
  }
  for (const group of ['hugepages', 'kubelet']) {
    const c = sh(NODE, [...ZX, `checks/${group}.ts`, '--inventory', more])
    assert.equal(c.code, 0, `${group}: ${c.out.slice(-3000)}`)
  }
})

test('a Talos patch bump: 09 upgrades the five nodes in order; a node whose new image does not boot stops it and says what happened; the re-run resumes at that node', () => {
  const bumped = inventoryVariant('v1.10.4-hugepages-6', (t) =>
    bump(t.replace('perNumaNode: [4, 4]', 'perNumaNode: [6, 6]')),
  )
  lab('fault', 'validator1', 'boot-fail')
  const r = runbookOn(bumped, '09-upgrade', '--yes', '--node-timeout', '20s')
  assert.equal(r.code, 1, r.out.slice(-3000))
  const upgraded = [...r.out.matchAll(/✔ (\S+): v1\.10\.4 \(down [\d.]+ s\)/g)].map((m) => m[1])
  assert.deepEqual(upgraded, ['cp1', 'cp2', 'cp3', 'worker1'], r.out.slice(-3000))
  // the timeline: etcd never dropped below quorum (2 of 3) while a control plane was upgraded
  for (const cp of ['cp1', 'cp2', 'cp3'])
    assert.match(
      r.out,
      new RegExp(`${cp} \\(controlplane\\): down [\\d:.]+, back [\\d:.]+, downtime [\\d.]+ s; etcd ≥ [23]/3 healthy`),
      r.out.slice(-3000),
    )
  assert.match(r.out, /etcd snapshot: \S+\/backups\/etcd-before-cp1-\S+\.db/)
  assert.match(r.out, /validator1 after its upgrade: runs Talos v1\.10\.3, wanted v1\.10\.4/)
  assert.match(
    r.out,
    /validator1 runs v1\.10\.3 again: its new image did not boot and Talos fell back to the previous one/,
  )
  assert.match(r.out, /resume: npx zx runbooks\/09-upgrade\.ts --inventory /)
  for (const f of filesUnder(join(outDir, 'backups'))) assert.equal(statSync(f).mode & 0o777, 0o600, f)
  assert.deepEqual(talosVersionsOfLab(), ['v1.10.4', 'v1.10.4', 'v1.10.4', 'v1.10.3', 'v1.10.4'])

  lab('heal', 'validator1')
  const before = ['cp1', 'cp2', 'cp3', 'worker1'].map(bootedAt)
  const again = runbookOn(bumped, '09-upgrade', '--yes')
  assert.equal(again.code, 0, again.out.slice(-3000))
  assert.match(again.out, /resuming 09-upgrade at upgrade-talos/)
  assert.deepEqual(
    [...again.out.matchAll(/✔ (\S+): v1\.10\.4 \(down/g)].map((m) => m[1]),
    ['validator1'],
  )
  assert.deepEqual(['cp1', 'cp2', 'cp3', 'worker1'].map(bootedAt), before, 'nodes 1-4 were not redone')
  assert.deepEqual(talosVersionsOfLab(), Array(5).fill('v1.10.4'))
  for (const group of ['etcd', 'hugepages']) {
    const c = sh(NODE, [...ZX, `checks/${group}.ts`, '--inventory', bumped])
    assert.equal(c.code, 0, `${group}: ${c.out.slice(-3000)}`)
  }
})

test('back to [4, 4] huge pages (on v1.10.4) for whatever runs after this section', () => {
  const back = inventoryVariant('v1.10.4', bump)
  assert.equal(runbookOn(back, '02-configure', '--yes').code, 0)
  const r = runbookOn(back, '09-upgrade', '--yes')
  assert.equal(r.code, 0, r.out.slice(-3000))
  const c = sh(NODE, [...ZX, 'checks/hugepages.ts', '--inventory', back])
  assert.equal(c.code, 0, c.out.slice(-3000))
})
test("09 refuses (exit 3) before any cordon when the validator's pinned image lacks its schematic: the validator would lose its huge pages", () => {
  // validator.installerImage pinned to the factory's empty schematic (the image every other node runs)
  const emptyImage = `validator:\n  installerImage: 127.0.70.1:8080/metal-installer/${EMPTY_SCHEMATIC_ID}:v1.10.4`
  const pinned = inventoryVariant('v1.10.4-empty-validator-image', (t) =>
    bump(t).replace(/\nvalidator:/, `\n${emptyImage}`),
  )
  const before = talosctl('127.0.70.21', 'read', '/proc/cmdline').out
  const r = runbookOn(pinned, '09-upgrade', '--yes')
  assert.equal(r.code, 3, r.out.slice(-3000))
  assert.match(
    r.out,
    /validator1: validator\.installerImage \S+ carries schematic 376567988ad3… \(the empty schematic: no kernel args\), but validator1 needs/,
  )
  assert.doesNotMatch(r.out, /\bcordon\b|upgrade --image/)
  assert.equal(talosctl('127.0.70.21', 'read', '/proc/cmdline').out, before)
})
test('a Kubernetes bump: 09 plans talosctl upgrade-k8s for the new kubernetesVersion', () => {
  // the inventory the sections below run on (they look for this file)
  const k8s = inventoryVariant('v1.10.4-k8s-1.33.2', (t) =>
    bump(t).replace('kubernetesVersion: v1.33.1', 'kubernetesVersion: v1.33.2'),
  )
  const list = runbookOn(k8s, '09-upgrade', '--list')
  assert.equal(list.code, 0, list.out.slice(-3000))
  assert.match(list.out, /Kubernetes: v1\.33\.1 → v1\.33\.2 \(talosctl upgrade-k8s\)/)
  // 09 --dry-run writes nothing: it names talosctl's dry run (which re-applies each control plane's config) and
  // does not run it
  const dry = runbookOn(k8s, '09-upgrade', '--dry-run')
  assert.equal(dry.code, 0, dry.out.slice(-3000))
  assert.match(dry.out, /would run talosctl -n 127\.0\.70\.11 upgrade-k8s --to v1\.33\.2 --dry-run/)
  assert.doesNotMatch(dry.out, /\$ \S*talosctl .*upgrade-k8s/)
  // the real `talosctl upgrade-k8s --dry-run` against the lab: it reads each node's KubeletSpec, watches the control
  // planes' component configs and dry-runs Talos's bootstrap manifests against the real API server
  const plan = talosctl(
    '127.0.70.11',
    'upgrade-k8s',
    '--to',
    '1.33.2',
    '--dry-run',
    '--with-docs=false',
    '--with-examples=false',
  )
  assert.equal(plan.code, 0, plan.out.slice(-3000))
  assert.match(plan.out, /automatically detected the lowest Kubernetes version 1\.33\.1/)
  for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'])
    assert.match(plan.out, new RegExp(`update ${c}: v1\\.33\\.1 -> 1\\.33\\.2`), plan.out.slice(-3000))
  assert.equal([...plan.out.matchAll(/ > update kubelet: 1\.33\.1 -> 1\.33\.2/g)].length, 5, plan.out.slice(-3000))
  assert.match(plan.out, / > processing manifest v1\.ServiceAccount\/kube-system\/kube-proxy/)
  // every manifest as Talos renders it is what the lab's control plane applied
  assert.doesNotMatch(plan.out, /dry run, change skipped/, plan.out.slice(-3000))
  const kubelets = kubectl('get', 'nodes', '-o', 'jsonpath={.items[*].status.nodeInfo.kubeletVersion}')
  assert.deepEqual([...new Set(kubelets.out.trim().split(/\s+/))], ['v1.33.1'], 'a dry run upgrades no kubelet')
})
// The upgrade itself is talosctl's client-side procedure (v1.10.3 pkg/cluster/kubernetes/talos_managed.go Upgrade).
// The lab now serves what its dry run reads (KubeletSpecs, the component configs with live watches, Manifests); the
// upgrade needs more: kube-apiserver, kube-controller-manager and kube-scheduler v1.33.2 to restart the static pods
// on (a second build of about 20-27 minutes on 2 cores, beyond what CI's 45 minutes leave), the static pods'
// talos.dev/config-version annotation following the config resources' versions (checkPodStatus), and the kubelet
// Service going Destroyed then Created as it restarts on its new image (kubelet.go upgradeKubeletOnNode) (issue #23).
test.todo(
  'a Kubernetes bump: 09 runs talosctl upgrade-k8s, then waits until every kubelet reports it (needs v1.33.2 control-plane binaries in the lab, issue #23)',
)
// ---------------------------------------------------------------- issue 15 (end)

// ---------------------------------------------------------------- issue 16 (i16): etcd backups

const backups = join(outDir, 'backups')
const backupIndex = () =>
  (
    JSON.parse(readFileSync(join(backups, 'index.json'), 'utf8')) as {
      snapshots: { file: string; member: string; revision: number; hash: string; size: number; reason: string }[]
    }
  ).snapshots
const etcdBackupAgeResult = (file: string) => {
  const r = sh(NODE, [...ZX, 'checks/etcd.ts', '--inventory', file, '--json'])
  const report = JSON.parse(r.out.slice(r.out.indexOf('{'), r.out.lastIndexOf('}') + 1)) as {
    results: { check: string; status: string; message: string }[]
  }
  return report.results.find((x) => x.check === 'etcd.backup-age')!
}

test('i16: 10-etcd-backup streams a snapshot, verifies and indexes it (0600 in 0700); etcdctl agrees on its revision and hash', () => {
  const r = runbook('10-etcd-backup', '--yes')
  assert.equal(r.code, 0, r.out.slice(-3000))
  const m = /(etcd-cp1-\S+\.db): revision (\d+), hash ([0-9a-f]{8}), (\d+) keys, (\d+) bytes, from cp1 — verified/.exec(
    r.out,
  )
  assert.ok(m, r.out.slice(-3000))
  const file = join(backups, m[1]!)
  assert.equal(statSync(backups).mode & 0o777, 0o700)
  for (const f of filesUnder(backups)) assert.equal(statSync(f).mode & 0o777, 0o600, f)
  // an independent reader of the file: etcd's own client
  const status = spawnSync('etcdctl', ['snapshot', 'status', '-w', 'json', file], {
    env: { ...env, ETCDCTL_API: '3' },
    encoding: 'utf8',
  })
  const j = JSON.parse(status.stdout) as { hash: number; revision: number }
  assert.equal(j.revision, Number(m[2]))
  assert.equal((j.hash >>> 0).toString(16).padStart(8, '0'), m[3])
  const entry = backupIndex().find((e) => e.file === m[1])
  assert.deepEqual(
    entry && { member: entry.member, revision: entry.revision, size: entry.size, reason: entry.reason },
    { member: 'cp1', revision: Number(m[2]), size: statSync(file).size, reason: 'backup' },
  )
  assert.equal(etcdBackupAgeResult(inv).status, 'pass')
})

test('i16: --node cp3 streams from cp3; --keep 2 leaves the two newest snapshots and deletes the other files', () => {
  assert.equal(runbook('10-etcd-backup', '--yes').code, 0) // at least three snapshots, whatever ran before
  const r = runbook('10-etcd-backup', '--yes', '--node', 'cp3', '--keep', '2')
  assert.equal(r.code, 0, r.out.slice(-3000))
  assert.match(r.out, /etcd-cp3-\S+\.db: revision \d+, .* from cp3 — verified/)
  assert.match(r.out, /2 snapshot\(s\) kept \(--keep 2\), [1-9]\d* removed/)
  const index = backupIndex()
  assert.equal(index.length, 2)
  assert.equal(index[0]!.member, 'cp3')
  assert.deepEqual(
    readdirSync(backups)
      .filter((f) => f.endsWith('.db'))
      .sort(),
    index.map((e) => e.file).sort(),
  )
  const bad = runbook('10-etcd-backup', '--yes', '--keep', '0')
  assert.equal(bad.code, 2, bad.out)
  assert.match(bad.out, /--keep .*"0" must be a whole number >= 1/)
})

test('i16: etcd.backup-age warns once the newest snapshot is older than cluster.etcdBackupMaxAge', () => {
  const strict = join(tmp, 'inventory-i16-maxage.yaml')
  writeFileSync(
    strict,
    readFileSync(inv, 'utf8').replace(
      /\n( +)outputDir: .*/,
      (line, sp: string) => `${line}\n${sp}etcdBackupMaxAge: 1s`,
    ),
  )
  spawnSync('sleep', ['1.5'])
  const r = etcdBackupAgeResult(strict)
  assert.equal(r.status, 'warn', r.message)
  assert.match(
    r.message,
    /the newest etcd snapshot etcd-cp3-\S+\.db is \d+ s old \(more than 1s\): take one with npx zx runbooks\/10-etcd-backup\.ts/,
  )
})

test('i16: 02 takes a verified snapshot before it applies a change, none when nothing changes; --no-backup skips it', () => {
  // the issue-15 section's last inventory (run alone, this section uses inv)
  const k8sBump = join(tmp, 'inventory-09-v1.10.4-k8s-1.33.2.yaml')
  const current = existsSync(k8sBump) ? k8sBump : inv
  // what the cluster runs may differ from what `current` renders (the kube-* images): converge first, unguarded
  const converged = runbookOn(current, '02-configure', '--yes', '--no-backup')
  assert.equal(converged.code, 0, converged.out.slice(-3000))
  const before = backupIndex().length
  const noop = runbookOn(current, '02-configure', '--yes')
  assert.equal(noop.code, 0, noop.out.slice(-3000))
  assert.match(noop.out, /↷ skipped: nothing to apply: no snapshot needed/)
  assert.equal(backupIndex().length, before)
  // a live change (a sysctl: no reboot) on the validator
  const changed = join(tmp, 'inventory-02-swappiness.yaml')
  const text = readFileSync(current, 'utf8')
  assert.match(text, /vm\.swappiness: "0"/)
  writeFileSync(changed, text.replace('vm.swappiness: "0"', 'vm.swappiness: "1"'))
  const r = runbookOn(changed, '02-configure', '--yes')
  assert.equal(r.code, 0, r.out.slice(-3000))
  assert.match(r.out, /etcd-before-configure-cp1-\S+\.db: revision \d+, .* — verified/)
  assert.ok(
    r.out.indexOf('etcd-before-configure-') < r.out.search(/▶ \[\d+\/\d+\] apply —/),
    'the snapshot comes before the apply',
  )
  assert.equal(backupIndex().length, before + 1)
  // back to what the cluster ran, without a snapshot
  const skipped = runbookOn(current, '02-configure', '--yes', '--no-backup')
  assert.equal(skipped.code, 0, skipped.out.slice(-3000))
  assert.match(skipped.out, /validator1\s+changes:/)
  assert.match(skipped.out, /↷ skipped: --no-backup/)
  assert.doesNotMatch(skipped.out, /etcd-before-configure-/)
  assert.equal(backupIndex().length, before + 1)
})
// ---------------------------------------------------------------- issue 16 (end)

// ---- i16r: 11-etcd-recover drill ----
// Quorum lost for good: ConfigMap A, a verified backup, ConfigMap B, every control plane's etcd data destroyed;
// 11-etcd-recover brings back A and not B, reports RPO/RTO, and leaves the cluster passing every check.

/** The inventory the cluster runs now: the issue-15 section leaves it on its last bump (alone, this uses inv). */
const i16rInventory = () => {
  const k8sBump = join(tmp, 'inventory-09-v1.10.4-k8s-1.33.2.yaml')
  return existsSync(k8sBump) ? k8sBump : inv
}
/** `kubectl create -f` of a ConfigMap in default. */
const i16rConfigMap = (name: string, value: string) => {
  const f = join(tmp, `${name}.yaml`)
  writeFileSync(
    f,
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: default}\ndata: {k: ${value}}\n`,
  )
  return kubectl('create', '-f', f)
}
const i16rEtcdState = (address: string) => /STATE\s+(\w+)/.exec(talosctl(address, 'service', 'etcd').out)?.[1]

test('i16r: 11-etcd-recover refuses (exit 3) while etcd has quorum, says why and changes nothing', () => {
  const r = runbookOn(i16rInventory(), '11-etcd-recover', '--yes')
  assert.equal(r.code, 3, r.out.slice(-3000))
  assert.match(r.out, /etcd has quorum \(cp1 follows leader [0-9a-f]+.*\): there is nothing to recover/)
  assert.match(r.out, /Nothing was changed\./)
  for (const a of ['127.0.70.11', '127.0.70.12', '127.0.70.13']) assert.equal(i16rEtcdState(a), 'Running')
})

test('i16r drill: A, backup, B, all etcd data lost; an unverified --snapshot is refused; 11 restores A without B, reports RPO/RTO, checks pass', () => {
  const cur = i16rInventory()
  const a = i16rConfigMap('i16r-a', 'a')
  assert.equal(a.code, 0, a.out)
  const b = runbookOn(cur, '10-etcd-backup', '--yes')
  assert.equal(b.code, 0, b.out.slice(-3000))
  const bCm = i16rConfigMap('i16r-b', 'b')
  assert.equal(bCm.code, 0, bCm.out)
  for (const n of ['cp1', 'cp2', 'cp3']) {
    const f = sh(NODE, [...TSX, 'lab/cli.ts', 'fault', n, 'etcd-data-loss'])
    assert.equal(f.code, 0, f.out)
  }
  // a file that is not a verified snapshot is refused before anything is wiped
  const bad = join(tmp, 'i16r-not-a-snapshot.db')
  writeFileSync(bad, 'not an etcd snapshot\n'.repeat(100), { mode: 0o600 })
  const refused = runbookOn(cur, '11-etcd-recover', '--yes', '--snapshot', bad)
  assert.equal(refused.code, 3, refused.out.slice(-3000))
  assert.match(refused.out, /--snapshot \S+i16r-not-a-snapshot\.db is not a verified etcd snapshot: .*sha256/)
  assert.match(refused.out, /take one with npx zx runbooks\/10-etcd-backup\.ts/)
  assert.equal(i16rEtcdState('127.0.70.11'), 'Waiting')
  // a dry run prints the procedure and changes nothing
  const dry = runbookOn(cur, '11-etcd-recover', '--dry-run')
  assert.equal(dry.code, 0, dry.out.slice(-3000))
  assert.match(dry.out, /reset --system-labels-to-wipe EPHEMERAL --reboot --graceful=false --wait=false/)
  assert.match(dry.out, /bootstrap --recover-from=\S+etcd-cp1-\S+\.db/)
  for (const a of ['127.0.70.11', '127.0.70.12', '127.0.70.13']) assert.equal(i16rEtcdState(a), 'Waiting')
  // the recovery, from the newest verified snapshot of the index
  const r = runbookOn(cur, '11-etcd-recover', '--yes')
  assert.equal(r.code, 0, r.out.slice(-4000))
  assert.match(r.out, /reset --system-labels-to-wipe EPHEMERAL --reboot --graceful=false/)
  assert.match(r.out, /bootstrap --recover-from=\S+etcd-cp1-\S+\.db/)
  assert.match(r.out, /recovering from snapshot "\S+": hash [0-9a-f]{8}, revision \d+/)
  assert.match(r.out, /RPO {2}\S+.*: the cluster is back at \S+, revision \d+/)
  assert.match(r.out, /RTO {2}\d+\.\d s from this run's start to the Kubernetes API answering/)
  assert.equal(kubectl('get', 'configmap', 'i16r-a', '-n', 'default', '-o', 'jsonpath={.data.k}').out.trim(), 'a')
  const gone = kubectl('get', 'configmap', 'i16r-b', '-n', 'default')
  assert.notEqual(gone.code, 0)
  assert.match(gone.out, /NotFound|not found/)
  const members = talosctl('127.0.70.11', 'etcd', 'members').out
  assert.deepEqual(
    members
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s{2,}/))
      .map((x) => `${x[2]}:${x[5]}`)
      .sort(),
    ['cp1:false', 'cp2:false', 'cp3:false'],
  )
  const checks = sh(NODE, [...ZX, 'checks/all.ts', '--inventory', cur])
  assert.equal(checks.code, 0, checks.out.slice(-3000))
  assert.equal(kubectl('delete', 'configmap', 'i16r-a', '-n', 'default').code, 0)
})
// ---- i16r: end ----
// ---------------------------------------------------------------- issue 13 item 4, the lab's VIP (i13v)
// The VIP is held by the winner of Talos' etcd election (lab/vip-election.ts): 08's graceful shutdown of its
// holder makes it resign, so the VIP goes dark briefly and comes back on another node; the report says so and what an
// abrupt loss would cost instead. (The crash case waits out the 60 s lease: test/lab/vip-election.test.ts.)

test('i13v: 08 took down the VIP holder: the VIP moved; the report shows the move and its API RTO, or says it fell between probes; the cost of an abrupt loss', (t) => {
  assert.ok(vipDrill.out, 'the 08 drill on the VIP holder did not run')
  const report = vipDrill.out
    .split('\n')
    .filter((l) => /api-|API RTO|VIP/.test(l))
    .join('\n')
  t.diagnostic(report)
  // the VIP moved: another node won the election once the holder resigned
  const events = parseVipLog(readFileSync(join(labDir, 'vip-holders.log'), 'utf8'))
  const resigned = events.find(
    (e) => e.node === vipDrill.target && e.event === 'released' && e.at >= vipDrill.startedAt,
  )
  assert.ok(resigned, `${vipDrill.target} never released the VIP during the drill`)
  const taken = events.find((e) => e.event === 'acquired' && e.at >= resigned.at)
  assert.ok(taken && taken.node !== vipDrill.target, `nobody else took the VIP: ${JSON.stringify(taken)}`)
  const gapMs = taken.at - resigned.at
  assert.ok(gapMs < 2000, `the VIP was dark ${gapMs} ms after a graceful shutdown`)
  // the report: the 25 ms in-process VIP probes saw the move, and it sets a real (non-zero) API RTO; or, on a
  // loaded host, a move of a couple of hundred ms fell between probes and the report says it may have (on hardware
  // the move is shorter still: Talos's candidates wait on an etcd watch, the lab's poll every 250 ms). A move of a
  // second or more cannot hide from probes started every 25 ms.
  const dark = /VIP 127\.0\.70\.10:6443: dark \d+–(\d+) ms \(\d+ ms\): its holder resigned the election/.exec(
    vipDrill.out,
  )
  if (dark) {
    const rto = /API RTO: +(\d+) ms/.exec(vipDrill.out)
    assert.ok(rto, report)
    assert.ok(Number(rto[1]) >= Number(dark[1]) && Number(rto[1]) > 0, report)
  } else {
    assert.match(vipDrill.out, /VIP 127\.0\.70\.10:6443: answered throughout \(.*shorter than a probe\)/, report)
    assert.ok(gapMs < 1000, `the probes missed a VIP dark for ${gapMs} ms\n${report}`)
    t.diagnostic(`the VIP moved in ${gapMs} ms, between two probes`)
  }
  assert.match(vipDrill.out, /an abrupt loss of the VIP holder .* 40–60 s/)
})
// ---------------------------------------------------------------- end of i13v
// ---- i16n: 12-replace-node drill ----
// cp2's machine loses its disks and comes back blank: 12 refuses while a second control plane is down (quorum),
// then replaces it. The cluster runs whatever the sections above left (the issue-15 bump when they ran).
const i16nInventory = () => {
  const k8sBump = join(tmp, 'inventory-09-v1.10.4-k8s-1.33.2.yaml')
  return existsSync(k8sBump) ? k8sBump : inv
}
/** `talosctl etcd members` as cp1 sees them: hostname → [member ID, learner]. */
const i16nMembers = () => {
  const r = sh(TALOSCTL_BIN, ['--talosconfig', join(outDir, 'talosconfig'), '-n', '127.0.70.11', 'etcd', 'members'])
  assert.equal(r.code, 0, r.out)
  const rows = r.out.trim().split('\n').slice(1)
  return Object.fromEntries(
    rows.map((l) => l.trim().split(/\s+/)).map((c) => [c[2]!, [c[1]!, c[c.length - 1]!]] as const),
  ) as Record<string, [string, string]>
}

test('i16n: cp2 loses its disks: blank in maintenance mode once powered on through its BMC, its dead member still listed', () => {
  const fingerprintBefore = readFileSync(join(labDir, 'ssh/cp2/host_key.fingerprint'), 'utf8')
  const said = sh(NODE, [...TSX, 'lab/cli.ts', 'fault', 'cp2', 'disk-loss'])
  assert.equal(said.code, 0, said.out)
  assert.match(
    said.out,
    /cp2: disks replaced by blank ones \(\/dev\/sda \(serial R[0-9A-F]+\)\), new rescue host key SHA256:/,
  )
  assert.notEqual(readFileSync(join(labDir, 'ssh/cp2/host_key.fingerprint'), 'utf8'), fingerprintBefore)
  assert.deepEqual(Object.keys(i16nMembers()).sort(), ['cp1', 'cp2', 'cp3'])
  const on = sh('ipmitool', [
    ...['-I', 'lanplus', '-C', '3', '-H', '127.0.70.12', '-p', '6230', '-U', 'admin'],
    ...['-f', join(labDir, 'bmc/password'), 'chassis', 'power', 'on'],
  ])
  assert.equal(on.code, 0, on.out)
  // the BMC acknowledges at once and powers the machine on in the background
  let st = sh(TALOSCTL_BIN, ['-n', '127.0.70.12', 'get', 'machinestatus', '--insecure'])
  for (let i = 0; i < 60 && st.code !== 0; i++) {
    spawnSync('sleep', ['0.5'])
    st = sh(TALOSCTL_BIN, ['-n', '127.0.70.12', 'get', 'machinestatus', '--insecure'])
  }
  assert.equal(st.code, 0, st.out)
  assert.match(st.out, /maintenance/)
})

test('i16n: 12 refuses (exit 3) while cp3 is down too: removing cp2 would leave no quorum; it names 11-etcd-recover', () => {
  lab('fault', 'cp3', 'down')
  const r = runbookOn(i16nInventory(), '12-replace-node', '--node', 'cp2', '--yes')
  lab('heal', 'cp3')
  assert.equal(r.code, 3, r.out.slice(-3000))
  assert.match(r.out, /only 1 of the 2 other members run etcd \(2 needed\); cp3: 127\.0\.70\.13 does not answer/)
  assert.match(r.out, /npx zx runbooks\/11-etcd-recover\.ts --inventory \S+\. Nothing was changed\./)
  assert.doesNotMatch(r.out, /remove-member/)
  assert.deepEqual(Object.keys(i16nMembers()).sort(), ['cp1', 'cp2', 'cp3'])
})

test('i16n: 12-replace-node --node cp2 --yes: three voting members cp1..cp3, a new cp2 member, and checks/all.ts passes', () => {
  const deadId = i16nMembers().cp2![0]
  const r = runbookOn(i16nInventory(), '12-replace-node', '--node', 'cp2', '--yes')
  assert.equal(r.code, 0, r.out.slice(-5000))
  assert.match(r.out, /etcd-before-replace-cp1-\S+\.db: revision \d+, .* — verified/)
  assert.match(r.out, new RegExp(`talosctl .*-n 127\\.0\\.70\\.1[13] etcd remove-member ${deadId}`))
  assert.match(r.out, /apply-config --file \S+\/cp2\.yaml --insecure/)
  assert.match(r.out, /cp2 replaced; the cluster passes the checks/)
  const after = i16nMembers()
  assert.deepEqual(
    Object.entries(after)
      .map(([host, [, learner]]) => `${host}:${learner}`)
      .sort(),
    ['cp1:false', 'cp2:false', 'cp3:false'],
  )
  assert.notEqual(after.cp2![0], deadId)
  const checks = sh(NODE, [...ZX, 'checks/all.ts', '--inventory', i16nInventory()])
  assert.equal(checks.code, 0, checks.out.slice(-3000))
})
test('i16n: a re-run of 12 on the replaced cp2 finds it alive and healthy and changes nothing', () => {
  const r = runbookOn(i16nInventory(), '12-replace-node', '--node', 'cp2', '--yes')
  assert.equal(r.code, 0, r.out.slice(-3000))
  assert.match(r.out, /cp2 is alive and healthy: nothing to replace/)
  assert.doesNotMatch(r.out, /remove-member [0-9a-f]|apply-config|delete node/)
})

test('i16n: the validator loses its disks: 12 drains and deletes its Node, reinstalls it, runs 05, and the checks pass', () => {
  lab('fault', 'validator1', 'disk-loss')
  lab('heal', 'validator1')
  const r = runbookOn(i16nInventory(), '12-replace-node', '--node', 'validator1', '--yes')
  assert.equal(r.code, 0, r.out.slice(-5000))
  assert.match(r.out, /kubectl .*drain validator1 .*--disable-eviction/)
  assert.match(r.out, /kubectl .*delete node validator1/)
  assert.match(r.out, /\$ npx zx runbooks\/05-storage-tuning\.ts --inventory \S+ --yes/)
  assert.match(r.out, /validator1 replaced; the cluster passes the checks/)
})
// ---- i16n (end) ----

test('lab down stops every process it started', () => {
  const pids = labPids()
  assert.ok(pids.length >= 6, `expected etcd and API server pids, got ${pids}`)
  const r = sh(NODE, [...TSX, 'lab/cli.ts', 'down'])
  assert.equal(r.code, 0, r.out)
  assert.deepEqual(pids.filter(alive), [])
  assert.equal(existsSync(labDir), false)
})
