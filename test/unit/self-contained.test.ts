// The repo stands alone: a user's clone has nothing beside it, so no file may reach outside it for data, and the
// linter (02 --lint) always has the official schema it ships with.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
/** Built from parts so this file does not match itself. */
const OUTSIDE = new RegExp(['\\.\\.', 'shared'].join('/'))
const SKIP = new Set(['node_modules', '.git', '.lab', 'out', 'state'])

function* repoFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) yield* repoFiles(p)
    else yield p
  }
}

test('nothing in the repo reads the shared folder beside it', () => {
  const hits: string[] = []
  for (const f of repoFiles(REPO)) {
    if (statSync(f).size > 2_000_000) continue
    readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => OUTSIDE.test(line) && hits.push(`${relative(REPO, f)}:${i + 1}: ${line.trim()}`))
  }
  assert.deepEqual(hits, [])
})

test('the data the product and tests use is in the repo, each with a note of its source', () => {
  for (const [data, note] of [
    ['templates/talos-v1.10.3/config.schema.json', 'templates/talos-v1.10.3/SOURCE.md'],
    ['test/fixtures/talos/seed-example-worker.yaml', 'test/fixtures/talos/SOURCE.md'],
    ['test/fixtures/samples/talosctl/etcd-status-3-nodes.txt', 'test/fixtures/samples/README.md'],
    ['test/fixtures/samples/linux/numactl-hardware-1node.txt', 'test/fixtures/samples/README.md'],
  ]) {
    assert.ok(statSync(join(REPO, data)).size > 0, data)
    assert.match(readFileSync(join(REPO, note), 'utf8'), /v1\.10\.3|verbatim/i, note)
  }
})

const lint = (files: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync('npx', ['zx', 'runbooks/02-configure.ts', '--lint', ...files], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  })

test('02 --lint: v1alpha2, an unknown kind and a misspelled key are errors (the schema is always applied)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'i11-lint-'))
  try {
    const v2 = join(dir, 'v2.yaml')
    const kind = join(dir, 'kind.yaml')
    const kublet = join(dir, 'kublet.yaml')
    writeFileSync(v2, 'version: v1alpha2\nmachine:\n  type: worker\n')
    writeFileSync(kind, 'apiVersion: v1alpha1\nkind: FooConfig\nname: x\n')
    writeFileSync(kublet, 'version: v1alpha1\nmachine:\n  type: worker\n  kublet:\n    image: x\n')
    const r = lint([v2, kind, kublet])
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(r.stdout, new RegExp(`${v2}:1:1: error\\[schema\\]: version: must be one of "v1alpha1"`))
    assert.match(r.stdout, new RegExp(`${kind}:2:1: error\\[schema\\]: kind: unknown document kind "FooConfig"`))
    assert.match(r.stdout, new RegExp(`${kublet}:4:3: error\\[schema\\]: machine.kublet: unknown field "kublet"`))
    assert.doesNotMatch(r.stdout, /: ok$/m)

    // without the schema it refuses loudly: no "ok", no stack trace, exit 2
    const gone = lint([kublet], { TALOS_CONFIG_SCHEMA: join(dir, 'missing.schema.json') })
    assert.equal(gone.status, 2, gone.stdout + gone.stderr)
    assert.match(gone.stderr, /the Talos v1\.10\.3 config schema is missing: .*missing\.schema\.json does not exist/)
    assert.doesNotMatch(gone.stdout + gone.stderr, /\bok\b|    at /)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
