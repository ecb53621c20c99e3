// The README's first command on a machine that lacks what the lab runs: `npm run lab:deploy` (and `npm test`'s
// pretest) find it out before starting anything. PATH decides what is installed here: a PATH holding only node
// and npm has no etcd, numactl, openssl, zstd, … and no apt-get to install them with.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { installLine, preflight, whyNoInstall } from '../../lab/preflight.ts'
import { findTool, LAB_TOOLS } from '../../lab/tools.ts'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

/** A bin dir with sh, node and npm only (plus `extra` scripts), and a lab dir that must stay absent. */
function bareMachine(extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'i11-preflight-'))
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  symlinkSync('/bin/sh', join(bin, 'sh')) // npm runs scripts with sh from PATH
  symlinkSync(process.execPath, join(bin, 'node'))
  symlinkSync(realpathSync(findTool('npm')!), join(bin, 'npm'))
  for (const [name, script] of Object.entries(extra)) {
    writeFileSync(join(bin, name), script)
    chmodSync(join(bin, name), 0o755)
  }
  const env: NodeJS.ProcessEnv = {
    HOME: process.env.HOME,
    PATH: bin,
    TALOS_LAB_DIR: join(dir, 'lab'),
    CI: 'true',
    NO_COLOR: '1',
  }
  return { dir, bin, env, labDir: join(dir, 'lab') }
}

const run = (args: string[], env: NodeJS.ProcessEnv) => {
  const t = Date.now()
  const r = spawnSync(join(env.PATH!, 'npm'), args, {
    cwd: REPO,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  })
  return { code: r.status, out: `${r.stdout}${r.stderr}`, ms: Date.now() - t }
}

test('npm run lab:deploy without the tools and no way to install them: exit 2 in seconds, the install line, nothing started', () => {
  const m = bareMachine()
  try {
    const r = run(['run', '--silent', 'lab:deploy'], { ...m.env, LAB_INSTALL_TOOLS: 'no' })
    assert.equal(r.code, 2, r.out)
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`)
    assert.match(r.out, /preflight: missing etcd, .*numactl.*; nothing was started\./)
    assert.match(r.out, /^ {2}etcd +\(Debian package etcd-server\): /m)
    assert.match(r.out, /^ {2}apt-get update && apt-get install -y etcd-server .*numactl.* openipmi ipmitool$/m)
    assert.match(r.out, /not done here: LAB_INSTALL_TOOLS=no/)
    assert.match(r.out, /kubectl: install kubectl .*https:\/\/kubernetes\.io\//)
    assert.doesNotMatch(r.out, /^\s+at |Error:|ENOENT/m)
    assert.ok(!existsSync(m.labDir), 'the lab dir was created')
  } finally {
    rmSync(m.dir, { recursive: true, force: true })
  }
})

test('npm test runs the same preflight first: without etcd it stops before any test', () => {
  const m = bareMachine()
  try {
    const r = run(['test'], { ...m.env, LAB_INSTALL_TOOLS: 'no' })
    assert.notEqual(r.code, 0, r.out)
    assert.match(r.out, /preflight: missing etcd/)
    assert.doesNotMatch(r.out, /^# (tests|pass) /m)
  } finally {
    rmSync(m.dir, { recursive: true, force: true })
  }
})

test(
  'as root with apt-get: runs apt-get update, then installs the missing Debian packages and says so',
  { skip: process.getuid?.() !== 0 && 'needs root' },
  () => {
    // a stand-in apt-get that records its arguments and installs nothing: the preflight must then still refuse
    const m = bareMachine({ 'apt-get': `#!/bin/sh\necho "$*" >> "$APT_LOG"\n` })
    const log = join(m.dir, 'apt.log')
    try {
      const r = run(['run', '--silent', 'lab:deploy'], { ...m.env, APT_LOG: log })
      assert.match(
        r.out,
        /^installing etcd-server etcd-client openssh-client numactl openssl zstd openipmi ipmitool \(needed by the lab\) …$/m,
      )
      assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [
        'update -qq',
        'install -y -qq --no-install-recommends etcd-server etcd-client openssh-client numactl openssl zstd openipmi ipmitool',
      ])
      assert.equal(r.code, 2, r.out)
      assert.match(r.out, /not done here: installed, yet still not found on PATH/)
      assert.ok(!existsSync(m.labDir))
    } finally {
      rmSync(m.dir, { recursive: true, force: true })
    }
  },
)

test('whyNoInstall: only root with apt-get installs, and LAB_INSTALL_TOOLS=no forbids it', () => {
  const withApt = { PATH: '/usr/bin:/bin' }
  const hasApt = !!findTool('apt-get', withApt)
  assert.equal(whyNoInstall({ env: withApt, uid: 1000 }), 'not root')
  assert.equal(whyNoInstall({ env: { ...withApt, LAB_INSTALL_TOOLS: 'no' }, uid: 0 }), 'LAB_INSTALL_TOOLS=no')
  assert.equal(whyNoInstall({ env: { PATH: '/nonexistent' }, uid: 0 }), 'no apt-get on this machine')
  if (hasApt) assert.equal(whyNoInstall({ env: withApt, uid: 0 }), undefined)
})

test('installLine: sudo when not root; one package per tool, each once', () => {
  const tools = LAB_TOOLS.filter((t) => ['etcd', 'sshd', 'ssh-keygen', 'kubectl'].includes(t.bin))
  assert.equal(
    installLine(tools, 1000),
    'sudo apt-get update && sudo apt-get install -y etcd-server openssh-server openssh-client',
  )
  assert.equal(installLine(tools, 0), 'apt-get update && apt-get install -y etcd-server openssh-server openssh-client')
})

test('preflight passes on this machine (the lab tests below need every tool)', () => {
  const said: string[] = []
  assert.equal(
    preflight({ env: process.env, uid: process.getuid?.() ?? -1 }, (s) => said.push(s)),
    0,
    said.join(''),
  )
})

test('npm run lab -- up runs the same preflight: exit 2, nothing started', () => {
  const m = bareMachine()
  try {
    const r = run(['run', '--silent', 'lab', '--', 'up'], { ...m.env, LAB_INSTALL_TOOLS: 'no' })
    assert.equal(r.code, 2, r.out)
    assert.match(r.out, /preflight: missing etcd/)
    assert.doesNotMatch(r.out, /^\s+at /m)
    assert.ok(!existsSync(m.labDir))
  } finally {
    rmSync(m.dir, { recursive: true, force: true })
  }
})
