// What a new operator runs into (issue 12): nodes that do not answer during checks, credentials where they do not
// belong, secrets in error messages, exit codes, unreadable inventories. Every case goes through the command the
// operator types and asserts the exit code, where the problem is, that nothing was written anywhere and that no
// secret reaches the terminal.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { assertNothingWritten, REPO, sandbox, ZX, type Ran } from './entry-point-sandbox.ts'
import { realTalosctl } from '../../lab/go-builds.ts'

const { tmp, run } = sandbox('bad-input-operator-')
after(() => rmSync(tmp, { recursive: true, force: true }))
/** The real talosctl v1.10.3 (the preflight builds it). */
const TALOSCTL = realTalosctl()
const LAB_INVENTORY = readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')

/** inventory/lab.yaml moved to 127.0.91.x (where nothing listens: no lab runs there) with its own output dir. */
function silentInventory(name: string): { file: string; outDir: string } {
  const dir = join(tmp, name)
  const outDir = join(dir, 'out')
  mkdirSync(outDir, { recursive: true, mode: 0o700 })
  const file = join(dir, 'inventory.yaml')
  writeFileSync(
    file,
    LAB_INVENTORY.replaceAll('127.0.10.', '127.0.91.').replace('outputDir: out/solana-lab', `outputDir: ${outDir}`),
  )
  return { file, outDir }
}

/** A talosconfig for the silent cluster, made the way 02 makes one (gen secrets, gen config -t talosconfig). */
async function talosconfigFor(outDir: string): Promise<void> {
  const secrets = join(outDir, 'secrets.yaml')
  const cfg = join(outDir, 'talosconfig')
  for (const args of [
    ['gen', 'secrets', '-o', secrets],
    [
      'gen',
      'config',
      'solana-lab',
      'https://127.0.91.10:6443',
      '--with-secrets',
      secrets,
      '--output-types',
      'talosconfig',
      '-o',
      cfg,
    ],
    ['--talosconfig', cfg, 'config', 'endpoint', '127.0.91.11', '127.0.91.12', '127.0.91.13'],
    ['--talosconfig', cfg, 'config', 'node', '127.0.91.11'],
  ]) {
    const r = await run('gen-talosconfig', [TALOSCTL, ...args])
    assert.equal(r.code, 0, r.out)
  }
}

const json = (r: Ran) =>
  JSON.parse(r.stdout) as { results: { check: string; target: string; status: string; message: string }[] }
const NODES = ['cp1', 'cp2', 'cp3', 'validator1', 'worker1']
// the checks that need the node itself to answer (they read it through the Talos API)
const TALOS_CHECKS = [
  'numa.topology',
  'sysctls.values',
  'kernel.modules',
  'kernel.args',
  'hugepages.cmdline',
  'hugepages.meminfo',
  'hugepages.numa',
  'kubelet.config',
  'storage.mounts',
  'cluster.etcd-service',
  'cluster.kubelet-service',
]

// ---------------------------------------------------------------- 1. checks against nodes that do not answer

const CALL_TIMEOUT_MS = 3000
let failFast: Ran | undefined

test(
  'checks --only numa, validator not answering: one failure naming the node and the cause, at once',
  { timeout: 180_000 },
  async () => {
    const { file, outDir } = silentInventory('numa-silent')
    await talosconfigFor(outDir)
    const r = await run('numa-silent', [
      ZX,
      'checks/all.ts',
      '--inventory',
      file,
      '--only',
      'numa',
      '--json',
      '--call-timeout',
      '3s',
    ])
    failFast = r
    assert.equal(r.code, 1, r.out)
    const { results } = json(r)
    assert.equal(results.length, 1, r.stdout)
    const [only] = results
    assert.equal(only!.status, 'fail')
    assert.equal(only!.target, 'validator1')
    assert.match(
      only!.message,
      /validator1 \(127\.0\.91\.21\) does not answer: .*(no route to host|connection refused)/,
    )
    assert.ok(r.ms < CALL_TIMEOUT_MS + 15_000, `took ${r.ms} ms`)
    assertNothingWritten(r, 'checks --only numa')
  },
)

test(
  'checks, every node silent and the validator hanging: ends within --call-timeout, one failure per node',
  { timeout: 180_000 },
  async () => {
    const { file, outDir } = silentInventory('all-silent')
    await talosconfigFor(outDir)
    // the validator accepts the call and never answers (a hung apid): every call to it would wait out the timeout
    const hang = join(tmp, 'talosctl-hang')
    const hungCalls = join(tmp, 'talosctl-hung-calls')
    writeFileSync(
      hang,
      `#!/bin/sh\ncase "$*" in *127.0.91.21*) echo "$*" >> '${hungCalls}'; exec sleep 120 ;; esac\nexec '${TALOSCTL}' "$@"\n`,
    )
    chmodSync(hang, 0o755)
    const r = await run('all-silent', [ZX, 'checks/all.ts', '--inventory', file, '--json', '--call-timeout', '3s'], {
      env: { TALOSCTL: hang },
    })
    assert.equal(r.code, 1, r.out)
    const { results } = json(r)
    for (const n of NODES) {
      const mine = results.filter((x) => x.check === 'talos.api' && x.target === n)
      assert.equal(mine.length, 1, `${n}: ${JSON.stringify(mine)}`)
      assert.match(mine[0]!.message, new RegExp(`^${n} \\(127\\.0\\.91\\.\\d+\\) does not answer: `))
    }
    assert.match(
      results.find((x) => x.target === 'validator1' && x.check === 'talos.api')!.message,
      /no answer within \d+ ms/,
    )
    const repeated = results.filter(
      (x) => TALOS_CHECKS.includes(x.check) && NODES.some((n) => x.target === n || x.target.startsWith(`${n}/`)),
    )
    assert.deepEqual(repeated, [], 'a silent node was asked again')
    // the hung node is asked twice, never per check: in the all-nodes `version` (which this wrapper hangs whole), then
    // alone, to tell which node hangs; each call ends at --call-timeout, not after the 120 s hang (the time bound is
    // loose: a loaded CI machine adds seconds to any run)
    const calls = readFileSync(hungCalls, 'utf8').trim().split('\n')
    assert.ok(calls.length <= 2, calls.join('\n'))
    const base = failFast?.ms ?? 10_000
    assert.ok(r.ms < base + 2 * CALL_TIMEOUT_MS + 20_000, `took ${r.ms} ms (fail-fast run: ${base} ms)`)
    assertNothingWritten(r, 'checks with silent nodes')
  },
)

test(
  'checks with talosctl missing say the tool is missing, not that the node has no NUMA nodes',
  { timeout: 120_000 },
  async () => {
    const { file } = silentInventory('no-talosctl')
    const missing = join(tmp, 'nowhere', 'talosctl')
    const r = await run(
      'no-talosctl',
      [ZX, 'checks/all.ts', '--inventory', file, '--only', 'numa', '--call-timeout', '3s'],
      { env: { TALOSCTL: missing } },
    )
    assert.equal(r.code, 1, r.out)
    assert.match(
      r.out,
      new RegExp(`talosctl is missing: ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} cannot be run`),
    )
    assert.doesNotMatch(r.out, /no NUMA nodes/)
    assert.match(r.out, /0 passed, 0 warned, 1 failed/)
    assertNothingWritten(r, 'checks without talosctl')
  },
)

// ---------------------------------------------------------------- 12. the quorum step needs evidence

test(
  '02 and 03 with no control plane answering refuse (exit 3) naming every node; nothing is rendered or applied',
  { timeout: 120_000 },
  async () => {
    const { file, outDir } = silentInventory('quorum-silent')
    await talosconfigFor(outDir)
    const before = readdirSync(outDir).sort()
    const configure = await run('quorum-02', [ZX, 'runbooks/02-configure.ts', '--inventory', file, '--yes'])
    assert.equal(configure.code, 3, configure.out)
    assert.doesNotMatch(configure.out, /no quorum to lose/)
    assert.match(configure.out, /✖ etcd-quorum .*no control-plane node answers/)
    for (const [n, ip] of [
      ['cp1', '127.0.91.11'],
      ['cp2', '127.0.91.12'],
      ['cp3', '127.0.91.13'],
    ])
      assert.match(configure.out, new RegExp(`${n}: ${ip.replaceAll('.', '\\.')} does not answer`))
    assert.match(configure.out, /Nothing was changed/)
    const bootstrap = await run('quorum-03', [ZX, 'runbooks/03-bootstrap.ts', '--inventory', file, '--yes'])
    assert.equal(bootstrap.code, 3, bootstrap.out)
    assert.match(bootstrap.out, /cannot tell whether etcd was bootstrapped: cp1, cp2, cp3 did not answer/)
    assert.deepEqual(readdirSync(outDir).sort(), before, 'a config was written')
  },
)

// ---------------------------------------------------------------- 5, 6, 7 and exit codes: bad inventories

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
const PEM_BODY = [
  'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
  'QyNTUxOQAAACDx7dXLKpX0wLx4Rk1Vz3vCkqXg2Ff0aQnTj9Yc1rJt8QAAAJgAAAAAAAAA',
]
const KEY_FILE_LINE =
  "    keyFile: .lab/ssh/id_ed25519       # the lab writes this key and each host's fingerprint file\n"
const SEED = LAB_INVENTORY.replace('outputDir: out/solana-lab', 'outputDir: OUTPUT_DIR')
/** The 1-based line on which `text` starts `part`. */
const lineOf = (text: string, part: string) => text.slice(0, text.indexOf(part)).split('\n').length

interface BadInventory {
  name: string
  text: string
  /** [line, column, field, message] of the line the operator must see (field '' for a whole-file problem). */
  expect: [number, number, string, RegExp]
  secrets: string[]
  mustNotSay?: RegExp
}

const BAD_INVENTORIES: BadInventory[] = [
  {
    name: 'credentials in the endpoint',
    text: SEED.replace(
      'endpoint: https://127.0.10.10:6443',
      'endpoint: https://admin:S3CRET-ENDPOINT-PW@127.0.10.10:6443',
    ),
    expect: [
      7,
      3,
      'cluster.endpoint',
      /must not contain credentials \(user:password@\).*\(got "https:\/\/<redacted>@127\.0\.10\.10:6443"\)/,
    ],
    secrets: ['S3CRET-ENDPOINT-PW', 'admin:'],
  },
  {
    name: 'a private key pasted into keyFile',
    text: SEED.replace(
      KEY_FILE_LINE,
      `    keyFile: |\n      -----BEGIN OPENSSH PRIVATE KEY-----\n      ${PEM_BODY[0]}\n      ${PEM_BODY[1]}\n      -----END OPENSSH PRIVATE KEY-----\n`,
    ),
    expect: [
      lineOf(SEED, KEY_FILE_LINE),
      5,
      'defaults.rescue.keyFile',
      /must be the path to the private key file, not the key itself/,
    ],
    secrets: PEM_BODY,
  },
  {
    name: 'an unknown password key under rescue',
    text: SEED.replace('    user: root\n', '    user: root\n    password: hunter2-rescue-pw\n'),
    expect: [
      lineOf(SEED, '    user: root\n') + 1,
      5,
      'defaults.rescue.password',
      /^unknown field "password" \(allowed: host, port, user, keyFile, hostKeyFingerprint, imageUrl\)$/,
    ],
    secrets: ['hunter2-rescue-pw'],
    mustNotSay: /<redacted> field/,
  },
  {
    name: 'a YAML alias bomb',
    text: `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ncluster: *f\n`,
    expect: [
      2,
      8,
      '',
      /^YAML aliases expand to more values than yaml allows .*\(fix: write the values out instead of repeating anchors \(&\) and aliases \(\*\)\)$/,
    ],
    secrets: [],
    mustNotSay: /Excessive alias count|at Alias/,
  },
  {
    name: 'a key given twice',
    text: SEED.replace('  vip: 127.0.10.10\n', '  vip: 127.0.10.10\n  vip: 127.0.10.9\n'),
    expect: [
      9,
      3,
      '',
      /^YAML syntax error: Map keys must be unique: "vip" is given twice \(fix: keep one "vip" and delete the other\)$/,
    ],
    secrets: [],
  },
  {
    name: 'a tab in the indentation',
    text: SEED.replace('  vip: 127.0.10.10\n', '\tvip: 127.0.10.10\n'),
    expect: [
      8,
      1,
      '',
      /^YAML syntax error: Tabs are not allowed as indentation \(at "vip"\) \(fix: indent with spaces; YAML does not allow tabs for indentation\)$/,
    ],
    secrets: [],
  },
]

const INVENTORY_ENTRY_POINTS: { name: string; cmd: (inv: string) => string[] }[] = [
  { name: '01-provision', cmd: (inv) => [ZX, 'runbooks/01-provision.ts', '--inventory', inv, '--yes'] },
  { name: '06-verify', cmd: (inv) => [ZX, 'runbooks/06-verify.ts', '--inventory', inv, '--yes'] },
  { name: 'checks/all.ts', cmd: (inv) => [ZX, 'checks/all.ts', '--inventory', inv] },
]

for (const bad of BAD_INVENTORIES) {
  for (const ep of INVENTORY_ENTRY_POINTS) {
    test(
      `${ep.name} rejects ${bad.name}: exit 2, file:line:col: field, no secret shown, nothing written`,
      { timeout: 60_000 },
      async () => {
        const box = join(tmp, `inv-${bad.name.replace(/\W+/g, '-')}-${ep.name.replace(/\W+/g, '-')}`)
        mkdirSync(box, { recursive: true })
        // an output dir outside the repo (absolute: the operator's explicit choice): a bad inventory must not create it
        const outside = join(box, 'outside-the-repo')
        const file = join(box, 'inventory.yaml')
        writeFileSync(file, bad.text.replace('OUTPUT_DIR', outside))
        const r = await run(`${bad.name}-${ep.name}`, ep.cmd(file))
        assert.equal(r.code, 2, r.out)
        const [line, column, field, message] = bad.expect
        const where = `${file}:${line}:${column}: ${field ? `${field}: ` : ''}`
        const hit = r.out.split('\n').find((l) => l.includes(where))
        assert.ok(hit, `no line with ${where} in:\n${r.out}`)
        assert.match(hit.slice(hit.indexOf(where) + where.length), message)
        for (const s of bad.secrets) assert.ok(!r.out.includes(s), `${s} was printed:\n${r.out}`)
        if (bad.mustNotSay) assert.doesNotMatch(r.out, bad.mustNotSay)
        assertNothingWritten(r, `${ep.name} ${bad.name}`, [outside])
      },
    )
  }
}

test('02 --lint names the file, line and fix of an alias bomb instead of a stack trace', async () => {
  const file = join(tmp, 'bomb-config.yaml')
  writeFileSync(file, BAD_INVENTORIES.find((b) => b.name === 'a YAML alias bomb')!.text)
  const r = await run('lint-bomb', [ZX, 'runbooks/02-configure.ts', '--lint', file])
  assert.equal(r.code, 1, r.out)
  assert.match(
    r.out,
    new RegExp(`^${esc(file)}:2:8: error\\[yaml-syntax\\]: YAML aliases expand .*\\(fix: write the values out`, 'm'),
  )
  assert.doesNotMatch(r.out, /Excessive alias count|ReferenceError/)
  assertNothingWritten(r, '--lint alias bomb')
})

test('a missing inventory or a directory: FILE: no such file / is a directory, exit 2 from runbooks and checks alike', async () => {
  const missing = join(tmp, 'no-such-inventory.yaml')
  for (const [what, file, says] of [
    ['missing', missing, 'no such file'],
    ['directory', tmp, 'is a directory'],
  ] as const) {
    for (const cmd of [
      [ZX, 'runbooks/04-join.ts', '--inventory', file, '--yes'],
      [ZX, 'checks/all.ts', '--inventory', file],
    ]) {
      const r = await run(`unreadable-${what}-${cmd[1]!.replace(/\W+/g, '-')}`, cmd)
      assert.equal(r.code, 2, r.out)
      assert.match(r.out, new RegExp(`${esc(file)}: ${says} \\(give --inventory an inventory YAML file`))
      assert.doesNotMatch(r.out, /:0:0|ENOENT|EISDIR|errno/)
      assertNothingWritten(r, `${cmd[1]} ${what}`)
    }
  }
})

test('lab up with a missing inventory names the file without errno jargon and creates nothing', async () => {
  const missing = join(tmp, 'no-such-lab-inventory.yaml')
  const r = await run('lab-missing', [process.execPath, '--import', 'tsx', 'lab/cli.ts', 'up', '--inventory', missing])
  assert.notEqual(r.code, 0, r.out)
  assert.match(r.out, new RegExp(`lab up: ${esc(missing)}: no such file \\(give --inventory`))
  assert.doesNotMatch(r.out, /ENOENT|errno/)
  assertNothingWritten(r, 'lab up missing inventory')
})

test('the lab CLI redacts what it quotes: credentials in an endpoint it refuses never reach the terminal', async () => {
  const file = join(tmp, 'lab-cred.yaml')
  writeFileSync(
    file,
    LAB_INVENTORY.replace('endpoint: https://127.0.10.10:6443', 'endpoint: https://admin:LAB-S3CRET-PW@10.9.9.9:6443'),
  )
  const r = await run('lab-cred', [process.execPath, '--import', 'tsx', 'lab/cli.ts', 'up', '--inventory', file])
  assert.notEqual(r.code, 0, r.out)
  assert.match(r.out, /cluster\.endpoint https:\/\/<redacted>@10\.9\.9\.9:6443 must be https:\/\/<127\.x\.y\.z>/)
  assert.ok(!r.out.includes('LAB-S3CRET-PW'), r.out)
  assertNothingWritten(r, 'lab up with credentials')
})

test(
  "checks and runbooks print key material from a tool's error as <redacted> (one redaction path)",
  { timeout: 120_000 },
  async () => {
    const { file, outDir } = silentInventory('leaky-tool')
    // a talosconfig, so the (leaky) talosctl is run at all: without one the runbooks do not call it
    writeFileSync(join(outDir, 'talosconfig'), 'context: x\ncontexts: {}\n', { mode: 0o600 })
    const leaky = join(tmp, 'talosctl-leaky')
    writeFileSync(
      leaky,
      `#!/bin/sh\necho "error: bad client key -----BEGIN EC PRIVATE KEY----- ${PEM_BODY[0]} -----END EC PRIVATE KEY----- password=${PEM_BODY[1]}" >&2\nexit 1\n`,
    )
    chmodSync(leaky, 0o755)
    for (const cmd of [
      [ZX, 'checks/all.ts', '--inventory', file, '--only', 'numa'],
      [ZX, 'runbooks/03-bootstrap.ts', '--inventory', file, '--yes'],
    ]) {
      const r = await run(`leaky-${cmd[1]!.replace(/\W+/g, '-')}`, cmd, { env: { TALOSCTL: leaky } })
      assert.notEqual(r.code, 0, r.out)
      assert.match(r.out, /bad client key <redacted>/)
      for (const s of PEM_BODY) assert.ok(!r.out.includes(s), `${cmd[1]} printed key material:\n${r.out}`)
    }
  },
)

test("redaction keeps a message's words and hides values: the diagnostic field is a name, a key=value is a value", async () => {
  const { redactString } = await import('../../lib/runner/redact.ts')
  const unknown = 'inv.yaml:17:5: defaults.rescue.password: unknown field "password" (allowed: host, port)'
  assert.equal(redactString(unknown), unknown)
  assert.equal(
    redactString('lint: error: password=hunter2 token: abc'),
    'lint: error: password=<redacted> token: <redacted>',
  )
  assert.equal(redactString('GET https://admin:pw@10.0.0.1:6443/readyz'), 'GET https://<redacted>@10.0.0.1:6443/readyz')
})

test('inventory errors quote a fingerprint (public) but never a keyFile value', async () => {
  const { checkInventory } = await import('../../config/inventory.ts')
  const errorsOf = (text: string) => checkInventory(text, 'inv.yaml').errors.map((e) => `${e.field}: ${e.message}`)
  const keyFile = errorsOf(LAB_INVENTORY.replace(KEY_FILE_LINE, '    keyFile: "keys/my key"\n'))
  assert.ok(
    keyFile.some((e) => /^defaults\.rescue\.keyFile: .*\(value not shown\)$/.test(e)),
    keyFile.join('\n'),
  )
  assert.ok(!keyFile.some((e) => e.includes('my key')), keyFile.join('\n'))
  const fingerprint = errorsOf(LAB_INVENTORY.replace('file:.lab/ssh/cp1/host_key.fingerprint', 'not;a-fingerprint'))
  assert.ok(
    fingerprint.some((e) => /^nodes\[0\]\.rescue\.hostKeyFingerprint: .*\(got "not;a-fingerprint"\)$/.test(e)),
    fingerprint.join('\n'),
  )
})

test("checks/all.ts --call-timeout takes the runbooks' durations and refuses anything else (exit 2)", async () => {
  const r = await run('checks-bad-timeout', [
    ZX,
    'checks/all.ts',
    '--inventory',
    join(REPO, 'inventory/lab.yaml'),
    '--call-timeout',
    'soon',
  ])
  assert.equal(r.code, 2, r.out)
  assert.match(r.out, /--call-timeout for checks: "soon" is not a duration between 100ms and 60m/)
  assertNothingWritten(r, 'checks --call-timeout soon')
})
