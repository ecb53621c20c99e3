import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { $ } from 'zx'
import { CommandError, firstMeaningfulLine, formatCommand, run } from '../../lib/host/exec.ts'
import { setLogSink } from '../../lib/runner/log.ts'

function captureLog<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = []
  const prev = setLogSink((l) => lines.push(l))
  return fn().then(
    (value) => (setLogSink(prev), { value, lines }),
    (e) => {
      setLogSink(prev)
      throw e
    },
  )
}

test('formatCommand quotes only what needs quoting, and a shell reads back the same argv', async () => {
  const args = [
    '-n',
    '127.0.10.11,127.0.10.12',
    'patch',
    'mc',
    '--patch',
    '@out/p.yaml',
    'a b',
    "it's",
    '',
    '$HOME',
    'x;y',
  ]
  const line = formatCommand('printf', ['%s\\n', ...args])
  assert.match(line, /^printf .* -n 127\.0\.10\.11,127\.0\.10\.12 patch mc --patch @out\/p\.yaml /)
  const out = await $({ quiet: true })`bash -c ${line}`
  assert.deepEqual(out.stdout.split('\n').slice(0, -1), args)
})

test('formatCommand redacts secret flags and requested values', () => {
  const line = formatCommand(
    'tool',
    [
      '--token',
      'abc.def',
      '--password=hunter2',
      '--kubernetes-bootstrap-token',
      'tok',
      '--url',
      'https://u:s3cr3t@h',
      '--key',
      'K',
    ],
    ['s3cr3t', /K$/],
  )
  assert.equal(
    line,
    'tool --token <redacted> --password=<redacted> --kubernetes-bootstrap-token <redacted> --url https://u:<redacted>@h --key <redacted>',
  )
  for (const secret of ['abc.def', 'hunter2', 'tok ', 's3cr3t']) assert.ok(!line.includes(secret), secret)
})

test('run prints the redacted command, passes stdin and env, and never prints stdin', async () => {
  const { value, lines } = await captureLog(() =>
    run('sh', ['-c', 'cat; printf " %s" "$X"', '--token', 'zzz'], { input: 'SECRET-CONFIG', env: { X: 'from-env' } }),
  )
  assert.equal(value.stdout, 'SECRET-CONFIG from-env')
  assert.equal(value.exitCode, 0)
  assert.equal(lines.length, 1)
  assert.match(lines[0]!, /\$ sh -c .* --token <redacted>$/)
  assert.ok(!lines.join('\n').includes('SECRET-CONFIG') && !lines.join('\n').includes('zzz'))
})

test('run with quiet prints nothing', async () => {
  const { lines } = await captureLog(() => run('true', [], { quiet: true }))
  assert.deepEqual(lines, [])
})

test('dry-run skips mutating commands and prints them; read-only commands still run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'exec-test-'))
  try {
    const marker = join(dir, 'ran')
    const { value, lines } = await captureLog(() =>
      run('touch', [marker], { dryRun: true, mutating: true, quiet: true }),
    )
    assert.equal(value.skipped, true)
    assert.equal(existsSync(marker), false)
    assert.deepEqual(lines.length, 1)
    assert.match(lines[0]!, /\(dry-run\) touch /)
    const ro = await run('sh', ['-c', `echo read > ${marker}`], { dryRun: true, quiet: true })
    assert.equal(ro.skipped, undefined)
    assert.equal(readFileSync(marker, 'utf8'), 'read\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a failing command throws CommandError naming command, exit code, context and the useful stderr line', async () => {
  const script =
    'echo "WARNING: 127.0.10.12: server version 1.9.5 is older than client version 1.10.3" >&2; echo "1 error occurred:" >&2; printf "\\t* 127.0.10.12: rpc error: code = Unavailable desc = connection refused\\n" >&2; exit 1'
  const err = await run('sh', ['-c', script], { quiet: true, context: 'cp2 (127.0.10.12)' }).then(
    () => assert.fail('should throw'),
    (e: unknown) => e,
  )
  assert.ok(err instanceof CommandError)
  assert.equal(err.exitCode, 1)
  assert.equal(err.context, 'cp2 (127.0.10.12)')
  assert.match(
    err.message,
    /^sh -c .* failed \(exit 1\) on cp2 \(127\.0\.10\.12\): 127\.0\.10\.12: rpc error: code = Unavailable desc = connection refused$/,
  )
  assert.match(err.stderr, /WARNING/)
})

test('nothrow returns the failure instead; stderr is redacted too', async () => {
  const r = await run('sh', ['-c', 'echo "bad token abc123" >&2; exit 7'], {
    quiet: true,
    nothrow: true,
    redact: ['abc123'],
  })
  assert.equal(r.exitCode, 7)
  assert.equal(r.stderr, 'bad token <redacted>\n')
})

test('a timeout kills the command and says so', async () => {
  const err = await run('sleep', ['30'], { quiet: true, timeoutMs: 300, context: 'cp1' }).then(
    () => assert.fail('should throw'),
    (e: unknown) => e,
  )
  assert.ok(err instanceof CommandError)
  assert.equal(err.timedOut, true)
  assert.equal(err.message, 'sleep 30 timed out after 300 ms on cp1')
})

test('firstMeaningfulLine skips warnings, multierror headers and cobra prefixes', () => {
  assert.equal(firstMeaningfulLine('\nWARNING: x\n2 errors occurred:\n\t* a: boom\n\t* b: bang\n'), 'a: boom')
  assert.equal(firstMeaningfulLine('Error: unknown flag: --bogus\nUsage:\n  talosctl'), 'unknown flag: --bogus')
  assert.equal(firstMeaningfulLine(''), '')
  // talosctl's multierror after a prefix: what failed, then why (the first item)
  assert.equal(
    firstMeaningfulLine(
      'error listing services: 1 error occurred:\n\t* 10.0.0.13: rpc error: code = Unavailable desc = connection refused\n\n',
    ),
    'error listing services: 10.0.0.13: rpc error: code = Unavailable desc = connection refused',
  )
})
