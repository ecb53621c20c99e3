// Issue 25 item 2 against a one-machine lab of its own (127.0.133.x): a rescue host key that nothing pins is never
// trusted under --yes (exit 3, the presented fingerprint and how to pin it, nothing written); at a terminal 01 shows
// the fingerprint, and after a yes stores it (0600 in 0700) and writes the machine. The prompt runs in a real
// pseudo-terminal (util-linux `script`), as an operator sees it.
import { NODE, TSX, ZX } from '../bin.ts'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'host-key-tofu-'))
const labDir = join(tmp, 'lab')
const outDir = join(tmp, 'out')
const inv = join(tmp, 'inventory.yaml')
const env = {
  ...process.env,
  TALOS_LAB_DIR: labDir,
  TALOS_RUNBOOKS_STATE_DIR: join(tmp, 'state'),
  NO_COLOR: '1',
}
const stored = join(outDir, 'rescue-host-keys', 'cp1.fingerprint')
const presented = () => readFileSync(join(labDir, 'ssh', 'cp1', 'host_key.fingerprint'), 'utf8').trim()
const stage = () =>
  (JSON.parse(readFileSync(join(labDir, 'nodes', 'cp1', 'node.json'), 'utf8')) as { stage: string }).stage

function sh(cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, {
    cwd: REPO,
    env: { ...env, CI: 'true', ...extraEnv },
    encoding: 'utf8',
    timeout: 5 * 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

/**
 * Run a command in a pseudo-terminal and answer its questions: each time the screen shows a question's text, type
 * its answer. Resolves with the exit code and everything the terminal showed.
 */
function inTerminal(
  command: string,
  answers: { when: RegExp; type: string }[],
): Promise<{ code: number; screen: string }> {
  return new Promise((resolve) => {
    const env2: NodeJS.ProcessEnv = { ...env, TERM: 'dumb' }
    delete env2.CI
    // a wide terminal: the question is not wrapped in the middle of the fingerprint
    const child = spawn('script', ['-qfec', `stty cols 400; ${command}`, '/dev/null'], { cwd: REPO, env: env2 })
    let screen = ''
    const pending = [...answers]
    const onData = (d: Buffer) => {
      screen += d.toString('utf8')
      const next = pending[0]
      if (next && next.when.test(screen)) {
        pending.shift()
        child.stdin.write(next.type)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    const timer = setTimeout(() => child.kill('SIGKILL'), 5 * 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, screen })
    })
  })
}

before(() => {
  // inventory/lab.yaml cut down to cp1 on 127.0.133.x, its rescue host key not pinned
  const doc = parse(
    readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
      .replaceAll('127.0.10.', '127.0.133.')
      .replaceAll('.lab/', `${labDir}/`),
  ) as {
    cluster: Record<string, unknown>
    nodes: { name: string; rescue: Record<string, unknown> }[]
    validator?: unknown
  }
  doc.cluster.name = 'solana-tofu'
  doc.cluster.outputDir = outDir
  doc.nodes = doc.nodes.filter((n) => n.name === 'cp1')
  delete doc.nodes[0]!.rescue.hostKeyFingerprint
  delete doc.validator
  writeFileSync(inv, stringify(doc))
  const up = sh(NODE, [...TSX, 'lab/cli.ts', 'up', '--inventory', inv])
  assert.equal(up.code, 0, up.out)
})

after(() => {
  sh(NODE, [...TSX, 'lab/cli.ts', 'down'])
  rmSync(tmp, { recursive: true, force: true })
})

test('--yes never trusts an unpinned host key: exit 3 with the presented fingerprint and how to pin it; nothing written', () => {
  const r = sh(NODE, [...ZX, 'runbooks/01-provision.ts', '--inventory', inv, '--yes'])
  assert.equal(r.code, 3, r.out.slice(-3000))
  const fp = presented()
  assert.ok(
    r.out.includes(
      `cp1 (127.0.133.11:2222) presents host key ${fp}, which nothing pins; --yes never trusts such a key`,
    ),
    r.out.slice(-3000),
  )
  assert.ok(r.out.includes(`rescue.hostKeyFingerprint: ${fp}`))
  assert.equal(existsSync(stored), false)
  assert.equal(stage(), 'off', 'the machine was not written')
})

test('at a terminal: 01 shows the fingerprint, a no stores nothing, a yes stores it (0600) and the machine is written', async () => {
  const cmd = `npx zx runbooks/01-provision.ts --inventory ${inv}`
  const no = await inTerminal(cmd, [
    { when: /Erase cp1:\/dev\/sda/, type: 'y\r' },
    { when: /Trust it from now on\?/, type: 'n\r' },
  ])
  assert.equal(no.code, 3, no.screen.slice(-3000))
  assert.ok(no.screen.includes(`presents host key ${presented()}. Is it the fingerprint`), no.screen.slice(-3000))
  assert.match(no.screen, /host key \S+ not trusted; nothing was written/)
  assert.equal(existsSync(stored), false)
  assert.equal(stage(), 'off')

  const yes = await inTerminal(cmd, [
    { when: /Erase cp1:\/dev\/sda/, type: 'y\r' },
    { when: /Trust it from now on\?/, type: 'y\r' },
  ])
  assert.equal(yes.code, 0, yes.screen.slice(-3000))
  assert.equal(readFileSync(stored, 'utf8').trim(), presented())
  assert.equal(statSync(stored).mode & 0o777, 0o600)
  assert.equal(statSync(join(outDir, 'rescue-host-keys')).mode & 0o777, 0o700)
  assert.match(yes.screen, /cp1: image written and verified/)
  assert.notEqual(stage(), 'off', 'the machine was written and booted Talos')
})
