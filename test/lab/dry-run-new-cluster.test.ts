// Issue 12 item 8 against a small lab of its own (127.0.92.x, one control plane and one worker, provisioned by 01
// into Talos maintenance mode): `02 --dry-run` on a cluster that has no secrets yet goes all the way through. It
// renders, lints and validates every config with a throwaway bundle, hands those files to talosctl's own
// `apply-config --insecure --dry-run`, and writes nothing: no output dir content, no journal entry, no temp dir
// left behind, and no node gets a config.
import { NODE, TSX, ZX } from '../bin.ts'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'dry-run-new-'))
const labDir = join(tmp, 'lab')
const outDir = join(tmp, 'out')
const stateDir = join(tmp, 'state')
const scratchTmp = join(tmp, 'tmp') // the runbook's TMPDIR: its dry-run workspace must be gone afterwards
const inv = join(tmp, 'inventory.yaml')
const env = { ...process.env, TALOS_LAB_DIR: labDir, TALOS_RUNBOOKS_STATE_DIR: stateDir, CI: 'true', NO_COLOR: '1' }

function sh(cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, {
    cwd: REPO,
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
    timeout: 5 * 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}
const files = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).sort() : []
const configVersion = (n: string) =>
  (JSON.parse(readFileSync(join(labDir, 'nodes', n, 'node.json'), 'utf8')) as { configVersion: number }).configVersion

before(() => {
  // inventory/lab.yaml cut down to cp1 and worker1 on 127.0.92.x
  const doc = parse(
    readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')
      .replaceAll('127.0.10.', '127.0.92.')
      .replaceAll('.lab/', `${labDir}/`),
  ) as {
    cluster: Record<string, unknown>
    nodes: { name: string }[]
    validator?: unknown
  }
  doc.cluster.name = 'solana-dry-run'
  doc.cluster.outputDir = outDir
  doc.nodes = doc.nodes.filter((n) => n.name === 'cp1' || n.name === 'worker1')
  delete doc.validator
  writeFileSync(inv, stringify(doc))
  mkdirSync(scratchTmp, { recursive: true })
  const up = sh(NODE, [...TSX, 'lab/cli.ts', 'up', '--inventory', inv])
  assert.equal(up.code, 0, up.out)
  const provision = sh(NODE, [...ZX, 'runbooks/01-provision.ts', '--inventory', inv, '--yes'])
  assert.equal(provision.code, 0, provision.out.slice(-3000))
})

after(() => {
  sh(NODE, [...TSX, 'lab/cli.ts', 'down'])
  rmSync(tmp, { recursive: true, force: true })
})

test('02 --dry-run on a new cluster renders, lints, validates and dry-applies every config, and writes nothing', () => {
  const outBefore = files(outDir)
  const journalBefore = readFileSync(join(stateDir, 'journal.jsonl'), 'utf8')
  const versions = ['cp1', 'worker1'].map(configVersion)
  const r = sh(NODE, [...ZX, 'runbooks/02-configure.ts', '--inventory', inv, '--dry-run'], { TMPDIR: scratchTmp })
  assert.equal(r.code, 0, r.out.slice(-4000))
  assert.match(r.out, /secrets bundle generated for this dry run only/)
  assert.match(r.out, /dry run: 2 configs rendered, linted and validated in \S+ \(removed on exit\)/)
  // talosctl's own dry run got the files this run rendered, in maintenance mode
  const scratch = /validated in (\S+) \(removed on exit\)/.exec(r.out)![1]!
  for (const n of ['127.0.92.11', '127.0.92.22'])
    assert.match(
      r.out,
      new RegExp(
        `talosctl -n ${n.replaceAll('.', '\\.')} apply-config --file ${scratch.replaceAll('.', '\\.')}/(cp1|worker1)\\.yaml --dry-run --insecure`,
      ),
    )
  assert.doesNotMatch(r.out, /ENOENT|✖/)
  assert.deepEqual(files(outDir), outBefore, 'the dry run wrote to the output dir')
  assert.equal(readFileSync(join(stateDir, 'journal.jsonl'), 'utf8'), journalBefore, 'the dry run wrote to the journal')
  assert.deepEqual(
    files(scratchTmp).filter((f) => !f.startsWith('tsx-')),
    [],
    'the dry run left its temp dir behind',
  )
  assert.deepEqual(['cp1', 'worker1'].map(configVersion), versions, 'a dry run applied a config')
})
