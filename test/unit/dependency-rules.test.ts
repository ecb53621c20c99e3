// The dependency rule (.dependency-cruiser.cjs, `npm run lint:deps`): product code never imports lab/, and no
// import cycles. Proven on a planted tree: each violation fails the run and is named; the allowed edges pass.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const DEPCRUISE = join(REPO, 'node_modules/.bin/depcruise')
const tmp = mkdtempSync(join(tmpdir(), 'deprules-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

function tree(name: string, files: Record<string, string>): string {
  const root = join(tmp, name)
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true })
    writeFileSync(join(root, rel), text)
  }
  return root
}

/** depcruise with the repo's own config, as `npm run lint:deps` runs it (tsx's loader off: see package.json). */
function cruise(cwd: string): { code: number | null; out: string } {
  const env = { ...process.env, NODE_OPTIONS: '' }
  const r = spawnSync(DEPCRUISE, ['--config', join(REPO, '.dependency-cruiser.cjs'), '.'], {
    cwd,
    env,
    encoding: 'utf8',
  })
  return { code: r.status, out: r.stdout + r.stderr }
}

const LAB = { 'lab/faults.ts': 'export const injectFault = (n: string) => n\n' }

test('a runbook or lib module importing lab/ fails the rule, naming the edge', () => {
  const root = tree('violation', {
    ...LAB,
    'runbooks/08-failover.ts': "import { injectFault } from '../lib/drill.ts'\ninjectFault('cp1')\n",
    'lib/drill.ts': "export { injectFault } from '../lab/faults.ts'\n",
  })
  const r = cruise(root)
  assert.notEqual(r.code, 0, r.out)
  assert.match(r.out, /error product-imports-lab: lib\/drill\.ts → lab\/faults\.ts/)
  assert.doesNotMatch(r.out, /runbooks\/08-failover\.ts → lab/, 'only the direct import is the violation')
})

test('an import cycle fails the rule', () => {
  const root = tree('cycle', {
    'lib/quorum.ts': "import { bootstrap } from './bootstrap.ts'\nexport const quorum = () => bootstrap\n",
    'lib/bootstrap.ts': "import { quorum } from './quorum.ts'\nexport const bootstrap = () => quorum\n",
  })
  const r = cruise(root)
  assert.notEqual(r.code, 0, r.out)
  assert.match(r.out, /error no-circular: lib\/(quorum|bootstrap)\.ts/)
})

test('lab/, test/ and bench/ may import lab/; product code may import lib/', () => {
  const root = tree('allowed', {
    ...LAB,
    'lab/cli.ts': "import { injectFault } from './faults.ts'\ninjectFault('x')\n",
    'test/lab/x.test.ts': "import { injectFault } from '../../lab/faults.ts'\ninjectFault('x')\n",
    'bench/run.ts': "import { injectFault } from '../lab/faults.ts'\ninjectFault('x')\n",
    'lib/a.ts': 'export const a = 1\n',
    'runbooks/01.ts': "import { a } from '../lib/a.ts'\nconsole.log(a)\n",
  })
  const r = cruise(root)
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /no dependency violations found \(\d+ modules/)
})

test('the repository itself passes the rule (npm run lint:deps)', () => {
  const r = spawnSync('npm', ['run', '--silent', 'lint:deps'], { cwd: REPO, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.match(r.stdout + r.stderr, /no dependency violations found \((\d{3,}) modules/)
})

test('product code has no lab branch or lab-only marker: no isLab, no .lab-owner, no loading of lab/ at run time', () => {
  const files = spawnSync('git', ['ls-files', 'runbooks', 'lib', 'checks', 'templates'], {
    cwd: REPO,
    encoding: 'utf8',
  })
    .stdout.trim()
    .split('\n')
  assert.ok(files.length > 50, `only ${files.length} product files`)
  const hits = files.flatMap((f) => {
    const text = readFileSync(join(REPO, f), 'utf8')
    return [/\bisLab\b/, /\.lab-owner/, /createRequire\([^)]*\)\(['"][^'"]*lab\//, /import\(['"][^'"]*\/lab\//]
      .filter((re) => re.test(text))
      .map((re) => `${f}: ${re}`)
  })
  assert.deepEqual(hits, [])
})
