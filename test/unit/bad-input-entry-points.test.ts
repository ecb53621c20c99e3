// Bad input through the commands an operator types: every malformed inventory fixture through a runbook, the check
// suite or the lab CLI (rotating, so each entry point sees several), malformed machine configs through
// `02-configure.ts --lint`, and bad flags. Each must exit non-zero, name the file, line and field (or the flag), and
// write nothing: no output dir, no journal, no lab state.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import pLimit from 'p-limit'
import { assertNothingWritten as assertNoState, REPO, sandbox, ZX, type Ran } from './entry-point-sandbox.ts'

const FIXTURES = join(REPO, 'test/fixtures/inventory')
const { tmp, run } = sandbox('bad-input-')
// the fixtures' outputDir (out/fixture, and the shell-injection one's "out/pwned"): must never appear
const FIXTURE_OUTPUTS = [join(REPO, 'out/fixture'), join(REPO, 'out/pwned'), join(REPO, 'out/fixture; touch out')]

function assertNothingWritten(r: Ran, what: string) {
  assertNoState(r, what, FIXTURE_OUTPUTS)
}

// ---------------------------------------------------------------- malformed inventories

const ENTRY_POINTS: { name: string; cmd: (inv: string) => string[]; exit: number }[] = [
  { name: '01-provision', cmd: (inv) => [ZX, 'runbooks/01-provision.ts', '--inventory', inv, '--yes'], exit: 2 },
  { name: '02-configure', cmd: (inv) => [ZX, 'runbooks/02-configure.ts', '--inventory', inv, '--yes'], exit: 2 },
  { name: '03-bootstrap', cmd: (inv) => [ZX, 'runbooks/03-bootstrap.ts', '--inventory', inv, '--yes'], exit: 2 },
  { name: '04-join', cmd: (inv) => [ZX, 'runbooks/04-join.ts', '--inventory', inv, '--yes'], exit: 2 },
  {
    name: '05-storage-tuning',
    cmd: (inv) => [ZX, 'runbooks/05-storage-tuning.ts', '--inventory', inv, '--yes'],
    exit: 2,
  },
  { name: '06-verify', cmd: (inv) => [ZX, 'runbooks/06-verify.ts', '--inventory', inv, '--yes'], exit: 2 },
  { name: '07-smoke-pod', cmd: (inv) => [ZX, 'runbooks/07-smoke-pod.ts', '--inventory', inv, '--yes'], exit: 2 },
  { name: '08-failover', cmd: (inv) => [ZX, 'runbooks/08-failover.ts', '--inventory', inv, '--yes'], exit: 2 },
  { name: '10-etcd-backup', cmd: (inv) => [ZX, 'runbooks/10-etcd-backup.ts', '--inventory', inv, '--yes'], exit: 2 },
  { name: '11-etcd-recover', cmd: (inv) => [ZX, 'runbooks/11-etcd-recover.ts', '--inventory', inv, '--yes'], exit: 2 },
  {
    name: '12-replace-node',
    cmd: (inv) => [ZX, 'runbooks/12-replace-node.ts', '--inventory', inv, '--node', 'cp2', '--yes'],
    exit: 2,
  },
  { name: 'checks/all.ts', cmd: (inv) => [ZX, 'checks/all.ts', '--inventory', inv], exit: 2 },
  {
    name: '02-configure --dry-run',
    cmd: (inv) => [ZX, 'runbooks/02-configure.ts', '--inventory', inv, '--dry-run'],
    exit: 2,
  },
]

const malformed = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.yaml') && !f.startsWith('valid-'))
  .sort()
const expectOf = (text: string) =>
  [...text.matchAll(/^# expect: (\d+):(\d+) (\S*): (.+)$/gm)].map((m) => ({
    line: m[1],
    column: m[2],
    field: m[3]!,
    message: m[4]!,
  }))

test('at least 30 malformed inventories, each through an entry point', () =>
  assert.ok(malformed.length >= 30, `only ${malformed.length}`))

const limit = pLimit(3)
const inventoryRuns = new Map(
  malformed.map((f, i) => {
    const ep = ENTRY_POINTS[i % ENTRY_POINTS.length]!
    const file = join(tmp, 'inventories', f)
    mkdirSync(join(tmp, 'inventories'), { recursive: true })
    writeFileSync(file, readFileSync(join(FIXTURES, f), 'utf8'))
    return [f, { ep, file, result: limit(() => run(`inv-${f}`, ep.cmd(file))) }] as const
  }),
)

for (const [f, { ep, file, result }] of inventoryRuns) {
  test(`${ep.name} rejects ${f}: exit ${ep.exit}, file:line:col: field, nothing written`, async () => {
    const r = await result
    assert.equal(r.code, ep.exit, r.out)
    for (const x of expectOf(readFileSync(file, 'utf8'))) {
      const where = `${file}:${x.line}:${x.column}: ${x.field ? `${x.field}: ` : ''}`
      const line = r.out.split('\n').find((l) => l.includes(where))
      assert.ok(line, `no line starting ${where} in:\n${r.out}`)
      assert.ok(line.includes(x.message), `expected "${x.message}" in: ${line}`)
    }
    assertNothingWritten(r, `${ep.name} ${f}`)
  })
}

// ---------------------------------------------------------------- lab inventories the lab refuses (lab up)
// Only the lab knows its simulated machines: `lab up` checks the validator's huge pages against them.

const LAB_FIXTURES = join(REPO, 'test/fixtures/lab-inventory')
for (const f of readdirSync(LAB_FIXTURES)
  .filter((x) => x.endsWith('.yaml'))
  .sort()) {
  test(`lab up rejects ${f}: exit 1, file:line:col: field, nothing written`, async () => {
    const file = join(tmp, 'lab-inventories', f)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, readFileSync(join(LAB_FIXTURES, f), 'utf8'))
    const r = await run(`lab-up-${f}`, [process.execPath, 'lab/cli.ts', 'up', '--inventory', file])
    assert.equal(r.code, 1, r.out)
    const expects = expectOf(readFileSync(file, 'utf8'))
    assert.ok(expects.length > 0, `${f} has no expect lines`)
    for (const x of expects) {
      const line = r.out.split('\n').find((l) => l.includes(`${file}:${x.line}:${x.column}: ${x.field}: `))
      assert.ok(line?.includes(x.message), `expected ${x.line}:${x.column} ${x.field}: ${x.message} in:\n${r.out}`)
    }
    assertNothingWritten(r, `lab up ${f}`)
  })
}

// ---------------------------------------------------------------- malformed machine configs (02 --lint)

const CONFIGS: { name: string; text: string; expect: [line: number, col: number, field: string, message: RegExp][] }[] =
  [
    {
      name: 'the-task-sample-worker.yaml',
      text: `version: v1alpha1
machine:
  type: worker
  token: abcdef.0123456789abcdef
  files:
    - path: /etc/default/grub
      content: GRUB_CMDLINE_LINUX="hugepagesz=1G hugepages=8"
      permissions: 0644
      op: create
  kernel:
    modules:
      - tcp_bbr
  sysctls:
    vm.max_map_count: 1048576
cluster:
  controlPlane:
    endpoint: https://10.0.0.10:6443
`,
      expect: [
        [6, 7, 'machine.files[0].path', /outside \/var/],
        [6, 7, 'machine.files[0].path', /GRUB defaults file/],
        [12, 9, 'machine.kernel.modules[0]', /must be objects/],
        [
          14,
          5,
          'machine.sysctls.vm.max_map_count',
          /warning\[sysctl-not-string\].*is a number: Talos reads it as the string "1048576"/,
        ],
      ],
    },
    {
      name: 'mode-field.yaml',
      text: `version: v1alpha1
machine:
  type: worker
  token: abcdef.0123456789abcdef
  install:
    disk: /dev/sda
    mode: "0750"
cluster:
  controlPlane:
    endpoint: https://10.0.0.10:6443
`,
      expect: [[7, 5, 'machine.install.mode', /unknown field "mode"/]],
    },
    {
      name: 'yaml-syntax.yaml',
      text: `version: v1alpha1
machine:
  type: worker
  sysctls:
    vm.swappiness: "0
cluster: {}
`,
      expect: [[5, 20, '', /Missing closing "quote \(at "vm.swappiness"\)/]],
    },
    {
      name: 'static-cpu-no-reservation.yaml',
      text: `version: v1alpha1
machine:
  type: worker
  token: abcdef.0123456789abcdef
  kubelet:
    extraConfig:
      cpuManagerPolicy: static
      systemReserved:
        cpu: "0"
cluster:
  controlPlane:
    endpoint: https://10.0.0.10:6443
`,
      expect: [[7, 7, 'machine.kubelet.extraConfig.cpuManagerPolicy', /static/]],
    },
    {
      // kubelet deletes kubeReserved cpu when reservedSystemCPUs is set (kubernetes v1.33 cmd/kubelet/app/server.go)
      name: 'kube-reserved-cpu-with-reserved-cpus.yaml',
      text: `version: v1alpha1
machine:
  type: worker
  token: abcdef.0123456789abcdef
  kubelet:
    extraConfig:
      cpuManagerPolicy: static
      reservedSystemCPUs: "0,1"
      kubeReserved:
        cpu: 1000m
        memory: 1Gi
cluster:
  controlPlane:
    endpoint: https://10.0.0.10:6443
`,
      expect: [
        [
          10,
          9,
          'machine.kubelet.extraConfig.kubeReserved.cpu',
          /error\[cpu-reservation-overridden\].*kubeReserved cpu is ignored: with reservedSystemCPUs "0,1" kubelet sets systemReserved cpu to the number of CPUs listed there and deletes kubeReserved cpu.*\(fix: remove cpu from kubeReserved/,
        ],
      ],
    },
    {
      // a bare scalar (true, 1) decodes into Talos' string map and is only a warning; a list does not decode at all
      name: 'sysctl-list.yaml',
      text: `version: v1alpha1
machine:
  type: worker
  token: abcdef.0123456789abcdef
  sysctls:
    net.ipv4.ip_forward: [1]
cluster:
  controlPlane:
    endpoint: https://10.0.0.10:6443
`,
      expect: [[6, 5, 'machine.sysctls.net.ipv4.ip_forward', /error\[sysctl-not-string\].*is a list/]],
    },
  ]

for (const c of CONFIGS) {
  test(`02-configure --lint rejects ${c.name}: exit 1, file:line:col: field`, async () => {
    const file = join(tmp, 'configs', c.name)
    mkdirSync(join(tmp, 'configs'), { recursive: true })
    writeFileSync(file, c.text)
    const r = await run(`cfg-${c.name}`, [ZX, 'runbooks/02-configure.ts', '--lint', file])
    assert.equal(r.code, 1, r.out)
    for (const [line, col, field, message] of c.expect) {
      const where = `${file}:${line}:${col}: `
      const hit = r.out
        .split('\n')
        .find((l) => l.startsWith(where) && l.includes(field ? `: ${field}: ` : ': ') && message.test(l))
      assert.ok(hit, `expected ${where}…${field}: ${message} in:\n${r.out}`)
    }
    assertNothingWritten(r, `--lint ${c.name}`)
  })
}

test('02-configure --lint names a file that does not exist', async () => {
  const missing = join(tmp, 'no-such-config.yaml')
  const r = await run('cfg-missing', [ZX, 'runbooks/02-configure.ts', '--lint', missing])
  assert.notEqual(r.code, 0)
  assert.match(r.out, new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`))
  assertNothingWritten(r, '--lint missing')
})

// ---------------------------------------------------------------- bad flags

const LAB_INV = join(REPO, 'inventory/lab.yaml')
const FLAGS: { name: string; cmd: string[]; exit: number; expect: RegExp }[] = [
  {
    name: 'unknown flag',
    cmd: [ZX, 'runbooks/03-bootstrap.ts', '--yes', '--frobnicate'],
    exit: 2,
    expect: /unknown flag --frobnicate for 03-bootstrap/,
  },
  {
    name: 'boolean flag given a value',
    cmd: [ZX, 'runbooks/04-join.ts', '--yes=please'],
    exit: 2,
    expect: /flag --yes for 04-join takes no value/,
  },
  {
    name: 'stray positional argument',
    cmd: [ZX, 'runbooks/01-provision.ts', 'cp1'],
    exit: 2,
    expect: /unexpected argument "cp1" for 01-provision/,
  },
  {
    name: 'bad --call-timeout',
    cmd: [ZX, 'runbooks/06-verify.ts', '--call-timeout', 'soon'],
    exit: 2,
    expect: /--call-timeout for 06-verify: "soon" is not a duration/,
  },
  {
    name: 'unknown --step',
    cmd: [ZX, 'runbooks/05-storage-tuning.ts', '--inventory', LAB_INV, '--step', 'defrag'],
    exit: 2,
    expect: /unknown step "defrag" for 05-storage-tuning/,
  },
  {
    name: '--node that is not a control plane',
    cmd: [ZX, 'runbooks/03-bootstrap.ts', '--inventory', LAB_INV, '--node', 'worker1', '--yes'],
    exit: 1,
    expect: /--node worker1: not a control-plane node/,
  },
  {
    name: 'missing inventory file',
    cmd: [ZX, 'runbooks/02-configure.ts', '--inventory', join(tmp, 'nope.yaml'), '--yes'],
    exit: 2,
    expect: /nope\.yaml: no such file/,
  },
  {
    name: 'checks: unknown check',
    cmd: [ZX, 'checks/all.ts', '--inventory', LAB_INV, '--only', 'hugepagez'],
    exit: 2,
    expect: /hugepagez/,
  },
  {
    name: 'checks: unknown flag',
    cmd: [ZX, 'checks/all.ts', '--inventory', LAB_INV, '--fast'],
    exit: 2,
    expect: /--fast/,
  },
  {
    name: '09: bad --restart-window-minutes',
    cmd: [ZX, 'runbooks/09-upgrade.ts', '--inventory', LAB_INV, '--restart-window-minutes', 'soon', '--yes'],
    exit: 2,
    expect: /flag --restart-window-minutes: "soon" is not a positive number of minutes/,
  },
  {
    name: '10: bad --keep',
    cmd: [ZX, 'runbooks/10-etcd-backup.ts', '--inventory', LAB_INV, '--keep', '2.5', '--yes'],
    exit: 2,
    expect: /flag --keep for 10-etcd-backup: "2.5" must be a whole number >= 1/,
  },
  {
    name: '10: --node that is not a control plane',
    cmd: [ZX, 'runbooks/10-etcd-backup.ts', '--inventory', LAB_INV, '--node', 'worker1', '--yes'],
    exit: 2,
    expect:
      /flag --node for 10-etcd-backup: worker1 is not a control-plane node of \S+ \(control planes: cp1, cp2, cp3\)/,
  },
  {
    name: '11: --node that is not a control plane',
    cmd: [ZX, 'runbooks/11-etcd-recover.ts', '--inventory', LAB_INV, '--node', 'worker1', '--yes'],
    exit: 2,
    expect:
      /flag --node for 11-etcd-recover: worker1 is not a control-plane node of \S+ \(control planes: cp1, cp2, cp3\)/,
  },
  {
    name: '11: bad --healthy-timeout',
    cmd: [ZX, 'runbooks/11-etcd-recover.ts', '--inventory', LAB_INV, '--healthy-timeout', 'soon', '--yes'],
    exit: 2,
    expect: /flag --healthy-timeout: "soon" is not a duration/,
  },
  {
    name: '12: no --node',
    cmd: [ZX, 'runbooks/12-replace-node.ts', '--inventory', LAB_INV, '--yes'],
    exit: 2,
    expect: /flag --node for 12-replace-node is required \(nodes: cp1, cp2, cp3, validator1, worker1\)/,
  },
  {
    name: '12: --node that is not in the inventory',
    cmd: [ZX, 'runbooks/12-replace-node.ts', '--inventory', LAB_INV, '--node', 'cp4', '--yes'],
    exit: 2,
    expect: /flag --node for 12-replace-node: cp4 is not a node of \S+ \(nodes: cp1, cp2, cp3, validator1, worker1\)/,
  },
  {
    name: 'lab: unknown fault',
    cmd: [process.execPath, 'lab/cli.ts', 'fault', 'cp1', 'meltdown'],
    exit: 2,
    expect: /unknown fault "meltdown"; valid: down, etcd-crash, slow, api-down/,
  },
]

for (const f of FLAGS) {
  test(`bad flags: ${f.name} → exit ${f.exit}, says which`, async () => {
    const r = await run(`flag-${f.name}`, f.cmd)
    assert.equal(r.code, f.exit, r.out)
    assert.match(r.out, f.expect)
    assertNothingWritten(r, f.name)
  })
}

after(() => rmSync(tmp, { recursive: true, force: true }))
