import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CommandError } from '../../lib/host/exec.ts'
import { setLogSink } from '../../lib/runner/log.ts'
import { Talosctl } from '../../lib/talos/talosctl.ts'

const SAMPLES = new URL('../fixtures/samples/talosctl/', import.meta.url)
const FIXTURES = new URL('../fixtures/talosctl/', import.meta.url)

// A stand-in talosctl: records each argv (args split by \x1f, calls by \x1e), prints $DIR/out.<node> or $DIR/out,
// prints $DIR/err.<node> to stderr and fails for that node, prints $DIR/err, exits with $DIR/exit, sleeps $DIR/sleep.
// `gen`/`config`/`kubeconfig` calls create the file they were asked to write, as the real one does.
const FAKE = `#!/bin/sh
d="$FAKE_TALOSCTL_DIR"
printf '%s\\037' "$@" >> "$d/argv"; printf '\\036' >> "$d/argv"
node=""; prev=""; out=""; sub=""
for a in "$@"; do
  [ "$prev" = "-n" ] && node="$a"
  [ "$prev" = "-o" ] && out="$a"
  case "$a" in kubeconfig) sub=kubeconfig;; esac
  [ "$prev" = "kubeconfig" ] && out="$a"
  prev="$a"
done
[ -f "$d/sleep" ] && sleep "$(cat "$d/sleep")"
case " $* " in *" gen "*|*" kubeconfig "*) [ -n "$out" ] && [ "$out" != json ] && echo "written by fake" > "$out" && chmod 644 "$out";; esac
if [ -n "$node" ] && [ -f "$d/out.$node" ]; then cat "$d/out.$node"; elif [ -f "$d/out" ]; then cat "$d/out"; fi
if [ -n "$node" ] && [ -f "$d/err.$node" ]; then cat "$d/err.$node" >&2; exit 1; fi
[ -f "$d/err" ] && cat "$d/err" >&2
[ -f "$d/exit" ] && exit "$(cat "$d/exit")"
exit 0
`

let root: string
let dir: string
let fake: string
let logLines: string[] = []
let restoreSink: ReturnType<typeof setLogSink>

before(() => {
  root = mkdtempSync(join(tmpdir(), 'talosctl-test-'))
  fake = join(root, 'talosctl')
  writeFileSync(fake, FAKE)
  chmodSync(fake, 0o755)
  writeFileSync(join(root, 'talosconfig'), 'context: lab\n', { mode: 0o600 })
  restoreSink = setLogSink((l) => logLines.push(l))
})
after(() => {
  setLogSink(restoreSink)
  rmSync(root, { recursive: true, force: true })
})

function setup(opts: { dryRun?: boolean; timeoutMs?: number } = {}) {
  dir = mkdtempSync(join(root, 'case-'))
  logLines = []
  return new Talosctl({
    bin: fake,
    talosconfig: join(root, 'talosconfig'),
    endpoints: ['127.0.10.11', '127.0.10.12'],
    env: { FAKE_TALOSCTL_DIR: dir },
    nodeNames: { '127.0.10.11': 'cp1', '127.0.10.12': 'cp2', '127.0.10.13': 'cp3' },
    ...opts,
  })
}
const calls = (): string[][] =>
  existsSync(join(dir, 'argv'))
    ? readFileSync(join(dir, 'argv'), 'utf8')
        .split('\x1e')
        .slice(0, -1)
        .map((c) => c.split('\x1f').slice(0, -1))
    : []
const give = (name: string, content: string) => writeFileSync(join(dir, name), content)
const giveFile = (name: string, from: URL) => copyFileSync(from, join(dir, name))

test('bin defaults to $TALOSCTL, then talosctl', () => {
  const saved = process.env.TALOSCTL
  try {
    process.env.TALOSCTL = '/opt/lab/talosctl'
    assert.equal(new Talosctl().bin, '/opt/lab/talosctl')
    delete process.env.TALOSCTL
    assert.equal(new Talosctl().bin, 'talosctl')
    assert.equal(new Talosctl({ bin: '/x' }).bin, '/x')
  } finally {
    if (saved === undefined) delete process.env.TALOSCTL
    else process.env.TALOSCTL = saved
  }
})

test('global flags: talosconfig, endpoints, all nodes in one -n; insecure drops both and puts --insecure after the subcommand', () => {
  const t = setup()
  assert.deepEqual(t.buildArgs(['etcd', 'status'], { nodes: ['127.0.10.11', '127.0.10.12', '127.0.10.13'] }), [
    '--talosconfig',
    join(root, 'talosconfig'),
    '-e',
    '127.0.10.11,127.0.10.12',
    '-n',
    '127.0.10.11,127.0.10.12,127.0.10.13',
    'etcd',
    'status',
  ])
  assert.deepEqual(t.buildArgs(['get', 'disks', '-o', 'json'], { nodes: ['127.0.10.21'], insecure: true }), [
    '-n',
    '127.0.10.21',
    'get',
    'disks',
    '-o',
    'json',
    '--insecure',
  ])
  assert.deepEqual(t.buildArgs(['gen', 'secrets', '-o', 's.yaml'], { local: true }), ['gen', 'secrets', '-o', 's.yaml'])
  assert.throws(
    () => t.buildArgs(['version'], { nodes: ['a', 'b'], insecure: true }),
    /maintenance API takes exactly one node, got 2/,
  )
})

test('etcdStatus: one call for all nodes, rows parsed and tagged', async () => {
  const t = setup()
  giveFile('out', new URL('etcd-status-3-nodes.txt', SAMPLES))
  const rows = await t.etcdStatus(['172.20.0.2', '172.20.0.3', '172.20.0.4'])
  assert.equal(calls().length, 1)
  assert.deepEqual(calls()[0]!.slice(-4), ['-n', '172.20.0.2,172.20.0.3,172.20.0.4', 'etcd', 'status'])
  assert.deepEqual(
    rows.map((r) => [r.node, r.isLeader]),
    [
      ['172.20.0.3', true],
      ['172.20.0.2', false],
      ['172.20.0.4', false],
    ],
  )
  assert.match(logLines[0]!, /\$ .*talosctl --talosconfig .* -n 172\.20\.0\.2,172\.20\.0\.3,172\.20\.0\.4 etcd status$/)
})

test('get --insecure runs once per node (maintenance mode cannot fan out) and tags rows with the asked node', async () => {
  const t = setup()
  const disk = (dev: string, size: number) =>
    JSON.stringify(
      {
        metadata: { namespace: 'runtime', type: 'Disks.block.talos.dev', id: dev, version: 1 },
        node: '',
        spec: { dev_path: `/dev/${dev}`, size, readonly: false, cdrom: false },
      },
      null,
      4,
    ) + '\n'
  give('out.127.0.10.21', disk('nvme0n1', 3.84e12) + disk('nvme1n1', 3.84e12))
  give('out.127.0.10.22', disk('sda', 480e9))
  const disks = await t.disks(['127.0.10.21', '127.0.10.22'], { insecure: true })
  assert.deepEqual(calls(), [
    ['-n', '127.0.10.21', 'get', 'disks', '-o', 'json', '--insecure'],
    ['-n', '127.0.10.22', 'get', 'disks', '-o', 'json', '--insecure'],
  ])
  assert.deepEqual(
    disks.map((d) => [d.node, d.spec.dev_path, d.spec.size]),
    [
      ['127.0.10.21', '/dev/nvme0n1', 3.84e12],
      ['127.0.10.21', '/dev/nvme1n1', 3.84e12],
      ['127.0.10.22', '/dev/sda', 480e9],
    ],
  )
})

test('get with namespace and id, yaml-shaped resources keep the node talosctl printed', async () => {
  const t = setup()
  const doc = {
    metadata: { namespace: 'network-config', type: 'HostnameSpecs.net.talos.dev', id: 'default/hostname', version: 2 },
    node: '172.20.0.2',
    spec: { hostname: 'talos-172-20-0-2' },
  }
  give('out', JSON.stringify(doc, null, 4) + '\n')
  const [r] = await t.get<{ hostname: string }>('hostnamespec', ['172.20.0.2'], {
    namespace: 'network-config',
    id: 'default/hostname',
  })
  assert.deepEqual(
    calls()[0]!.slice(-8),
    [
      '-n',
      '172.20.0.2',
      'get',
      'hostnamespec',
      'default/hostname',
      '--namespace',
      'network-config',
      '-o',
      'json',
    ].slice(-8),
  )
  assert.equal(r!.spec.hostname, 'talos-172-20-0-2')
  assert.equal(r!.node, '172.20.0.2')
})

test('unparseable output names the command', async () => {
  const t = setup()
  give('out', 'NODE   NAMESPACE\n')
  await assert.rejects(
    t.members(['127.0.10.11']),
    /talosctl .*get members -o json: .*document 1: not a resource object/,
  )
})

test('service list and service detail', async () => {
  const t = setup()
  giveFile('out', new URL('service-etcd-preparing.txt', SAMPLES))
  const [etcd] = await t.service(['172.20.0.2'], 'etcd')
  assert.deepEqual(calls()[0]!.slice(-3), ['172.20.0.2', 'service', 'etcd'])
  assert.equal(etcd!.state, 'Preparing')
  assert.equal(etcd!.events!.length, 3)
  giveFile('out', new URL('service-list.txt', FIXTURES))
  const all = await t.service(['172.20.1.2'])
  assert.deepEqual(calls()[1]!.slice(-1), ['service'])
  assert.equal(all.length, 8)
})

test('version --insecure per node: the node comes from the call, the client from the first answer', async () => {
  const t = setup()
  const out = (tag: string) =>
    `Client:\n\tTag:         v1.10.3\n\tSHA:         dde2cebc\n\tBuilt:       \n\tGo version:  go1.24.3\n\tOS/Arch:     linux/amd64\nServer:\n\tNODE:        \n\tTag:         ${tag}\n\tSHA:         x\n\tBuilt:       \n\tGo version:  go1.24.3\n\tOS/Arch:     linux/amd64\n\tEnabled:     \n`
  give('out.127.0.10.11', out('v1.10.3'))
  give('out.127.0.10.12', out('v1.10.2'))
  const v = await t.version(['127.0.10.11', '127.0.10.12'], { insecure: true })
  assert.equal(v.client!.tag, 'v1.10.3')
  assert.deepEqual(
    v.servers.map((s) => [s.node, s.tag]),
    [
      ['127.0.10.11', 'v1.10.3'],
      ['127.0.10.12', 'v1.10.2'],
    ],
  )
  assert.deepEqual(
    calls().map((c) => c.at(-1)),
    ['--insecure', '--insecure'],
  )
})

test('a failure names the node by inventory name and address, and the command', async () => {
  const t = setup()
  give(
    'err.127.0.10.12',
    'error getting members: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.10.12:50000: connect: connection refused"\n',
  )
  const err = await t.etcdMembers('127.0.10.12').then(
    () => assert.fail('should throw'),
    (e: unknown) => e,
  )
  assert.ok(err instanceof CommandError)
  assert.match(
    err.message,
    /talosctl .*-n 127\.0\.10\.12 etcd members failed \(exit 1\) on cp2 \(127\.0\.10\.12\): error getting members: rpc error: code = Unavailable/,
  )
})

test('a hung talosctl is killed at the timeout', async () => {
  const t = setup({ timeoutMs: 300 })
  give('sleep', '20')
  const err = await t.etcdAlarms(['127.0.10.13']).then(
    () => assert.fail('should throw'),
    (e: unknown) => e,
  )
  assert.ok(err instanceof CommandError)
  assert.equal(err.timedOut, true)
  assert.match(err.message, /etcd alarm list timed out after 300 ms on cp3 \(127\.0\.10\.13\)$/)
})

test('dry-run skips every mutating call, prints it, and still runs reads', async () => {
  const t = setup({ dryRun: true })
  giveFile('out', new URL('etcd-alarm-list.txt', FIXTURES))
  const skipped = [
    await t.applyConfig('127.0.10.11', 'out/cp1.yaml', { insecure: true, mode: 'reboot' }),
    await t.bootstrap('127.0.10.11'),
    await t.reboot(['127.0.10.13']),
    await t.shutdown(['127.0.10.13'], { force: true }),
    await t.genSecrets(join(dir, 'secrets.yaml')),
  ]
  assert.ok(skipped.every((r) => r.skipped === true))
  assert.equal(existsSync(join(dir, 'secrets.yaml')), false)
  assert.equal(calls().length, 0)
  assert.equal(logLines.filter((l) => l.includes('(dry-run) ')).length, skipped.length)
  assert.match(
    logLines[0]!,
    /\(dry-run\) .*talosctl -n 127\.0\.10\.11 apply-config --file out\/cp1\.yaml --mode reboot --insecure$/,
  )
  const alarms = await t.etcdAlarms(['172.20.0.2'])
  assert.equal(alarms[0]!.alarm, 'NOSPACE')
  // talosctl's own --dry-run is read-only, so it runs even on a runbook dry-run
  const check = await t.applyConfig('127.0.10.11', 'out/cp1.yaml', { dryRun: true })
  assert.equal(check.skipped, undefined)
  assert.deepEqual(calls().at(-1)!.slice(-4), ['apply-config', '--file', 'out/cp1.yaml', '--dry-run'])
})

test('mutating commands build the real talosctl flags', async () => {
  const t = setup()
  await t.reboot(['127.0.10.13'], { mode: 'powercycle' })
  await t.shutdown(['127.0.10.13'], { force: true })
  const tails = calls().map((c) => c.slice(c.indexOf('-n') + 2))
  assert.deepEqual(tails, [
    ['reboot', '--wait=false', '--mode', 'powercycle'],
    ['shutdown', '--wait=false', '--force'],
  ])
  assert.equal(calls()[0]![calls()[0]!.indexOf('-n') + 1], '127.0.10.13')
})

test('upgrade-k8s keeps the machine configs free of docs and examples, in its dry run too', async () => {
  const t = setup()
  await t.upgradeK8s('127.0.10.11', '1.33.2', { dryRun: true })
  await t.upgradeK8s('127.0.10.11', '1.33.2')
  const tails = calls().map((c) => c.slice(c.indexOf('-n') + 2))
  const common = ['upgrade-k8s', '--to', '1.33.2', '--with-docs=false', '--with-examples=false']
  assert.deepEqual(tails, [[...common, '--dry-run'], common])
})

test('health: flags, the report from stderr, and the failing check in the error', async () => {
  const t = setup()
  give(
    'err',
    'discovered nodes: ["127.0.10.11" "127.0.10.21"]\nwaiting for etcd to be healthy: ...\nwaiting for etcd to be healthy: OK\nwaiting for all k8s nodes to report ready: ...\nwaiting for all k8s nodes to report ready: some nodes are not ready: [validator1]\n',
  )
  give('exit', '1')
  const err = await t
    .health({
      node: '127.0.10.11',
      controlPlaneNodes: ['127.0.10.11'],
      workerNodes: ['127.0.10.21'],
      waitTimeout: 90_000,
    })
    .then(
      () => assert.fail('should throw'),
      (e: unknown) => e,
    )
  assert.ok(err instanceof CommandError)
  assert.match(
    err.message,
    /health .* failed \(exit 1\) on cp1 \(127\.0\.10\.11\): all k8s nodes to report ready: some nodes are not ready: \[validator1\]$/,
  )
  assert.deepEqual(calls()[0]!.slice(calls()[0]!.indexOf('health')), [
    'health',
    '--wait-timeout',
    '1m30s',
    '--control-plane-nodes',
    '127.0.10.11',
    '--worker-nodes',
    '127.0.10.21',
  ])
  const report = await t.health({ node: '127.0.10.11', waitTimeout: '5m', nothrow: true })
  assert.equal(report.ok, false)
  assert.equal(report.exitCode, 1)
  assert.deepEqual(report.discoveredNodes, ['127.0.10.11', '127.0.10.21'])
  assert.deepEqual(
    report.checks.map((c) => c.status),
    ['ok', 'error'],
  )
  assert.deepEqual(calls()[1]!.slice(calls()[1]!.indexOf('health')), ['health', '--wait-timeout', '5m0s'])
  rmSync(join(dir, 'exit'))
  give('err', 'waiting for etcd to be healthy: ...\nwaiting for etcd to be healthy: OK\n')
  assert.equal((await t.health({ node: '127.0.10.11' })).ok, true)
})

test('secrets, talosconfig and kubeconfig end up 0600; gen commands carry no cluster flags', async () => {
  const t = setup()
  const secrets = join(dir, 'secrets.yaml')
  await t.genSecrets(secrets)
  assert.equal(statSync(secrets).mode & 0o777, 0o600)
  const tc = join(dir, 'talosconfig')
  await t.genTalosconfig({
    cluster: 'solana-lab',
    endpoint: 'https://127.0.10.10:6443',
    secrets,
    outFile: tc,
    endpoints: ['127.0.10.11', '127.0.10.12'],
    nodes: ['127.0.10.11'],
  })
  assert.equal(statSync(tc).mode & 0o777, 0o600)
  const kc = join(dir, 'kubeconfig')
  await t.kubeconfig('127.0.10.11', kc, { force: true })
  assert.equal(statSync(kc).mode & 0o777, 0o600)
  const c = calls()
  assert.deepEqual(c[0], ['gen', 'secrets', '-o', secrets])
  assert.deepEqual(c[1], [
    'gen',
    'config',
    'solana-lab',
    'https://127.0.10.10:6443',
    '--with-secrets',
    secrets,
    '--output-types',
    'talosconfig',
    '-o',
    tc,
  ])
  assert.deepEqual(c[2], ['--talosconfig', tc, 'config', 'endpoint', '127.0.10.11', '127.0.10.12'])
  assert.deepEqual(c[3], ['--talosconfig', tc, 'config', 'node', '127.0.10.11'])
  assert.deepEqual(c[4]!.slice(-5), ['127.0.10.11', 'kubeconfig', kc, '--merge=false', '--force'])
})

test('read returns stdout', async () => {
  const t = setup()
  give('out', 'MemTotal:       16384000 kB\n')
  assert.equal(await t.read('127.0.10.21', '/proc/meminfo'), 'MemTotal:       16384000 kB\n')
  assert.deepEqual(calls()[0]!.slice(-3), ['127.0.10.21', 'read', '/proc/meminfo'])
})

test('no talosconfig yet: talosctl is not run (it would write an empty one there); --insecure calls still run', async () => {
  dir = mkdtempSync(join(root, 'case-'))
  const missing = join(dir, 'out', 'talosconfig')
  const t = new Talosctl({ bin: fake, talosconfig: missing, env: { FAKE_TALOSCTL_DIR: dir } })
  await assert.rejects(t.read('127.0.10.21', '/proc/meminfo'), /talosconfig .* does not exist yet .*02-configure/)
  assert.equal(calls().length, 0)
  assert.equal(existsSync(missing), false)
  give('out', '[]\n')
  await t.run(['get', 'disks', '-o', 'json'], { nodes: ['127.0.10.21'], insecure: true })
  assert.equal(calls().length, 1)
})

test('lsNames: the entries below a dir in either of talosctl ls’s layouts; [] for a missing dir; other errors throw', async () => {
  const t = setup()
  // with node metadata: rows through the tabwriter, header first
  give('out', 'NODE          NAME\n127.0.10.11   .\n127.0.10.11   member\n')
  assert.deepEqual(await t.lsNames('127.0.10.11', '/var/lib/etcd'), ['member'])
  assert.deepEqual(calls().at(-1)!.slice(-4), ['-n', '127.0.10.11', 'ls', '/var/lib/etcd'])
  // without: each name printed at once, the tabwriter's header flushed last (cmd/talosctl/cmd/talos/list.go)
  give('out', '.\nNODE   NAME\n')
  assert.deepEqual(await t.lsNames('127.0.10.11', '/var/lib/etcd'), [])
  rmSync(join(dir, 'out'))
  give('err', 'error fetching logs: rpc error: code = Unknown desc = lstat /var/lib/etcd: no such file or directory\n')
  give('exit', '1')
  assert.deepEqual(await t.lsNames('127.0.10.11', '/var/lib/etcd'), [])
  give('err', 'rpc error: code = PermissionDenied desc = not authorized\n')
  await assert.rejects(t.lsNames('127.0.10.11', '/var/lib/etcd'), /not authorized/)
})

test('serviceOfEach: one call for all nodes; a node apid could not reach gets its error, not a second call', async () => {
  const t = setup()
  const nodes = ['127.0.10.11', '127.0.10.12', '127.0.10.13']
  const svc = (node: string) =>
    `NODE     ${node}\nID       etcd\nSTATE    Running\nHEALTH   OK\nEVENTS   [Running]: Health check successful (2m47s ago)\n`
  give(`out.${nodes.join(',')}`, svc('127.0.10.11') + '\n' + svc('127.0.10.12'))
  give(
    'err',
    'WARNING: 1 error occurred:\n\t* 127.0.10.13: rpc error: code = Unavailable desc = connection refused\n\n',
  )
  const got = await t.serviceOfEach(nodes, 'etcd')
  assert.equal(calls().length, 1)
  assert.equal((got.get('127.0.10.11') as { state: string }).state, 'Running')
  assert.equal((got.get('127.0.10.12') as { health: string }).health, 'OK')
  const third = got.get('127.0.10.13')
  assert.ok(third instanceof Error)
  assert.match(third.message, /connection refused/)
})

test('serviceOfEach: when the call for all nodes hangs, each node is asked alone', async () => {
  const t = setup({ timeoutMs: 300 })
  give('sleep', '20')
  const nodes = ['127.0.10.11', '127.0.10.12']
  const got = await t.serviceOfEach(nodes, 'etcd')
  assert.deepEqual(
    calls().map((c) => c[c.indexOf('-n') + 1]),
    ['127.0.10.11,127.0.10.12', '127.0.10.11', '127.0.10.12'],
  )
  for (const n of nodes) assert.match((got.get(n) as Error).message, /timed out after 300 ms/)
})
