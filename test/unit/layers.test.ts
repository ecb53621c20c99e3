// The folders are layers and imports only point down: runbooks → steps → checks → config → lib. A runbook's step
// folder may use the shared steps (steps/*.ts) but not another runbook's folder, and a runbook imports only its own
// step folder (runbooks/08-failover.ts → steps/08-failover/): what two runbooks share lives at steps/ top level. (Whether product code may import
// lab/ at all is the dependency rule's business, not this test's.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { posix } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

type Layer = 'lib' | 'config' | 'checks/engine' | 'checks/defs' | 'checks' | 'steps/<runbook>' | 'steps' | 'runbooks'

function layerOf(file: string): Layer | undefined {
  if (file.startsWith('lib/')) return 'lib'
  if (file.startsWith('config/')) return 'config'
  if (file.startsWith('checks/engine/')) return 'checks/engine'
  if (file.startsWith('checks/defs/')) return 'checks/defs'
  if (file.startsWith('checks/')) return 'checks'
  if (/^steps\/[^/]+\//.test(file)) return 'steps/<runbook>'
  if (file.startsWith('steps/')) return 'steps'
  if (file.startsWith('runbooks/')) return 'runbooks'
  return undefined
}

const BELOW: Record<Layer, Layer[]> = {
  lib: ['lib'],
  config: ['lib', 'config'],
  'checks/engine': ['lib', 'config', 'checks/engine'],
  'checks/defs': ['lib', 'config', 'checks/engine', 'checks/defs'],
  checks: ['lib', 'config', 'checks/engine', 'checks/defs'],
  steps: ['lib', 'config', 'checks/engine', 'checks/defs', 'steps'],
  'steps/<runbook>': ['lib', 'config', 'checks/engine', 'checks/defs', 'steps', 'steps/<runbook>'],
  runbooks: ['lib', 'config', 'checks/engine', 'checks/defs', 'steps', 'steps/<runbook>'],
}

/** Every relative import (static, side-effect only, or dynamic) of a file, as a repo path. */
function importsOf(file: string, text: string): string[] {
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+|export\s+\*\s+from\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map(
    (m) => posix.normalize(posix.join(posix.dirname(file), m[1]!)),
  )
}

function upwardImports(files: { path: string; text: string }[]): string[] {
  const bad: string[] = []
  for (const { path, text } of files) {
    const from = layerOf(path)
    if (!from) continue
    for (const target of importsOf(path, text)) {
      const to = layerOf(target)
      if (!to) continue // lab/, test/, bench/: not a layer of the product
      const sideways =
        to === 'steps/<runbook>' &&
        ((from === 'steps/<runbook>' && target.split('/')[1] !== path.split('/')[1]) ||
          (from === 'runbooks' && target.split('/')[1] !== posix.basename(path, '.ts')))
      if (!BELOW[from].includes(to) || sideways) bad.push(`${path} (${from}) imports ${target} (${to})`)
    }
  }
  return bad
}

test('imports only point down the layers', () => {
  // walk the folders rather than ask git: works in an exported tree, and sees a file not yet added
  const paths = ['lib', 'config', 'checks', 'steps', 'runbooks'].flatMap((d) =>
    readdirSync(posix.join(REPO, d), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => posix.join(d, f)),
  )
  const files = paths
    .filter((p) => layerOf(p))
    .map((path) => ({ path, text: readFileSync(posix.join(REPO, path), 'utf8') }))
  assert.ok(files.length > 50)
  assert.deepEqual(upwardImports(files), [])
})

test("the rule catches lib importing config, a runbook or its steps importing another runbook's steps, and a dynamic import", () => {
  const bad = upwardImports([
    { path: 'lib/talos/talosctl.ts', text: "import { loadInventory } from '../../config/inventory.ts'" },
    { path: 'steps/02-configure/steps.ts', text: "import { probeMachine } from '../01-provision/steps.ts'" },
    { path: 'config/render.ts', text: "const m = await import('../steps/quorum.ts')" },
    { path: 'lib/host/ssh.ts', text: "import '../../checks/engine/runner.ts'" },
    { path: 'steps/quorum.ts', text: "import { x } from './03-bootstrap/steps.ts'" },
    { path: 'runbooks/03-bootstrap.ts', text: "import { x } from '../steps/03-bootstrap/steps.ts'" },
    { path: 'runbooks/02-configure.ts', text: "import { backupFirstStep } from '../steps/10-etcd-backup/steps.ts'" },
  ])
  assert.equal(bad.length, 6)
  assert.match(bad[0]!, /lib\/talos\/talosctl\.ts \(lib\) imports config\/inventory\.ts \(config\)/)
  assert.match(bad[1]!, /steps\/02-configure\/steps\.ts .* imports steps\/01-provision\/steps\.ts/)
  assert.match(bad[2]!, /config\/render\.ts \(config\) imports steps\/quorum\.ts/)
  assert.match(bad[3]!, /lib\/host\/ssh\.ts \(lib\) imports checks\/engine\/runner\.ts/)
  assert.match(bad[4]!, /steps\/quorum\.ts \(steps\) imports steps\/03-bootstrap\/steps\.ts/)
  assert.match(bad[5]!, /runbooks\/02-configure\.ts \(runbooks\) imports steps\/10-etcd-backup\/steps\.ts/)
})

test('07, 08, 11 and 12 only wire named steps: no step body or helper function in the runbook file', () => {
  for (const rb of [
    'runbooks/07-smoke-pod.ts',
    'runbooks/08-failover.ts',
    'runbooks/11-etcd-recover.ts',
    'runbooks/12-replace-node.ts',
  ]) {
    const text = readFileSync(posix.join(REPO, rb), 'utf8')
    // a step body is a run or check method (`async run(c) {`, `check(c) {`); wired steps are `run: (c) => fn(c)`
    assert.doesNotMatch(
      text,
      /^\s*(async )?(run|check)\([^)]*\) \{|^(async )?function |^interface /m,
      `${rb} holds a step body`,
    )
    assert.match(
      text,
      /from '\.\.\/steps\/(0[78]|1[12])-[a-z-]+\/steps\.ts'/,
      `${rb} takes its steps from its step folder`,
    )
  }
})
