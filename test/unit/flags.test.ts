import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatHelp, parseFlags, scriptArgs, UsageError } from '../../lib/runner/flags.ts'

const own = {
  node: { type: 'string', description: 'control-plane node', valueName: 'NAME' },
  'max-wait': { type: 'string', description: 'how long to wait', default: '5m' },
  force: { type: 'boolean', short: 'f', description: 'force it' },
} as const

test('defaults: lab inventory, nothing set', () => {
  const f = parseFlags('03-bootstrap', own, [])
  assert.match(f.inventory, /inventory\/lab\.yaml$/)
  assert.equal(f.yes, false)
  assert.equal(f.dryRun, false)
  assert.deepEqual(f.step, [])
  assert.equal(f.from, undefined)
  assert.equal(f.list, false)
  assert.equal(f.help, false)
  assert.equal(f.json, false)
  assert.equal(f.node, undefined)
  assert.equal(f.maxWait, '5m')
  assert.equal(f.force, false)
})

test('common and own flags, kebab-case becomes camelCase, short forms', () => {
  const f = parseFlags('03-bootstrap', own, [
    '--inventory',
    'inventory/prod.yaml',
    '-y',
    '--dry-run',
    '--node=cp2',
    '--max-wait',
    '10m',
    '-f',
    '--from',
    'bootstrap',
  ])
  assert.equal(f.inventory, 'inventory/prod.yaml')
  assert.equal(f.yes, true)
  assert.equal(f.dryRun, true)
  assert.equal(f.node, 'cp2')
  assert.equal(f.maxWait, '10m')
  assert.equal(f.force, true)
  assert.equal(f.from, 'bootstrap')
})

test('--step is repeatable and --only is its alias', () => {
  const f = parseFlags('x', {}, ['--step', 'a', '--only', 'b', '--step', 'c'])
  assert.deepEqual(f.step, ['a', 'c', 'b'])
})

test('--json exists only where the runbook supports it', () => {
  assert.equal(parseFlags('x', {}, ['--json'], { json: true }).json, true)
  assert.throws(
    () => parseFlags('x', {}, ['--json']),
    (e: unknown) => e instanceof UsageError && e.message === 'unknown flag --json for x; see --help',
  )
})

test('unknown flag, missing value, value on a boolean, stray argument: UsageError with exit code 2', () => {
  const cases: [string[], RegExp][] = [
    [['--foo'], /^unknown flag --foo for 03-bootstrap; see --help$/],
    [['-z'], /^unknown flag -z for 03-bootstrap/],
    [['--node'], /^flag --node for 03-bootstrap needs a value/],
    [['--node', '--yes'], /^flag --node for 03-bootstrap needs a value/],
    [['--inventory='], /^flag --inventory for 03-bootstrap needs a value/],
    [['--yes=no'], /^flag --yes for 03-bootstrap takes no value/],
    [['cp1'], /^unexpected argument "cp1" for 03-bootstrap/],
  ]
  for (const [args, re] of cases) {
    assert.throws(
      () => parseFlags('03-bootstrap', own, args),
      (e: unknown) => e instanceof UsageError && e.exitCode === 2 && re.test(e.message),
      args.join(' '),
    )
  }
})

test('a runbook cannot redefine a common flag', () => {
  assert.throws(
    () => parseFlags('x', { yes: { type: 'boolean', description: 'mine' } }, []),
    /redefines the common flag --yes/,
  )
})

test('scriptArgs: the arguments after the script, however it was started', () => {
  // npx zx runbooks/03.ts ... (zx keeps its own argv: the zx binary, its flags, then the script)
  assert.deepEqual(
    scriptArgs(['/usr/bin/node', '/repo/node_modules/.bin/zx', 'runbooks/03-bootstrap.ts', '--yes', '-n', 'x']),
    ['--yes', '-n', 'x'],
  )
  assert.deepEqual(
    scriptArgs(['/usr/bin/node', '/repo/node_modules/.bin/zx', '--quiet', './runbooks/03-bootstrap.ts', '--help']),
    ['--help'],
  )
  assert.deepEqual(
    scriptArgs(['/usr/bin/node', '/repo/node_modules/zx/build/cli.js', 'runbooks/03-bootstrap.ts', '--list']),
    ['--list'],
  )
  // node --import tsx runbooks/03.ts ...
  assert.deepEqual(scriptArgs(['/usr/bin/node', '/repo/runbooks/03-bootstrap.ts', '--from', 'x.ts']), [
    '--from',
    'x.ts',
  ])
  assert.deepEqual(scriptArgs(['/usr/bin/node', '/repo/runbooks/03-bootstrap.ts']), [])
})

test('help lists every flag, its default and every step', () => {
  const h = formatHelp({
    id: '03-bootstrap',
    title: 'Bootstrap etcd',
    flags: own,
    json: true,
    steps: [
      { name: 'check-etcd', describe: 'Check etcd' },
      { name: 'bootstrap', describe: 'Bootstrap', destructive: true },
    ],
  })
  for (const s of [
    '--node NAME',
    '--max-wait',
    '(default: 5m)',
    '-f, --force',
    '--inventory FILE',
    '-y, --yes',
    '--dry-run',
    '--step NAME',
    '--only',
    '--from',
    '--list',
    '-h, --help',
    '--json',
    'check-etcd',
    'Check etcd',
    'bootstrap',
    'destructive',
  ]) {
    assert.ok(h.includes(s), `help lacks ${s}:\n${h}`)
  }
  assert.ok(!formatHelp({ id: 'x', title: 't', flags: {}, steps: [{ name: 'a', describe: 'A' }] }).includes('--json'))
})
