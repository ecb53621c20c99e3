// 03-bootstrap's kubeconfig step fetches from the node it shows: `--node cp2` must ask cp2, not the first control plane.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

// A stand-in talosctl: logs each argv, answers nothing (no etcd service yet), writes the kubeconfig it is asked for.
const FAKE = `#!/bin/sh
printf '%s ' "$@" >> "$FAKE_LOG"; echo >> "$FAKE_LOG"
prev=""; for a in "$@"; do [ "$prev" = kubeconfig ] && echo fake > "$a"; prev="$a"; done
exit 0
`

let dir: string
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kubeconfig-node-'))
  writeFileSync(join(dir, 'talosctl'), FAKE)
  chmodSync(join(dir, 'talosctl'), 0o755)
  mkdirSync(join(dir, 'out'))
  // 02 would have written it; the wrapper refuses to run talosctl without one
  writeFileSync(join(dir, 'out', 'talosconfig'), 'context: solana-lab\n', { mode: 0o600 })
  const inv = readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8').replace(
    /outputDir: \S+/,
    `outputDir: ${join(dir, 'out')}`,
  )
  writeFileSync(join(dir, 'inv.yaml'), inv)
})
after(() => rmSync(dir, { recursive: true, force: true }))

function kubeconfigStep(node?: string) {
  const log = join(dir, `talosctl-${node ?? 'default'}.log`)
  const nodeFlag = node ? ['--node', node] : []
  const r = spawnSync(
    'npx',
    [
      'zx',
      'runbooks/03-bootstrap.ts',
      '--inventory',
      join(dir, 'inv.yaml'),
      ...nodeFlag,
      '--only',
      'kubeconfig',
      '--yes',
    ],
    {
      cwd: REPO,
      encoding: 'utf8',
      env: {
        ...process.env,
        TALOSCTL: join(dir, 'talosctl'),
        FAKE_LOG: log,
        TALOS_RUNBOOKS_STATE_DIR: join(dir, 'state'),
      },
    },
  )
  const calls = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => / kubeconfig /.test(l))
  return { r, calls }
}

test('03 --node cp2 --only kubeconfig shows cp2 and fetches from cp2 (127.0.10.12)', () => {
  const { r, calls } = kubeconfigStep('cp2')
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /kubeconfig .*\(targets: cp2\)/)
  assert.equal(calls.length, 1)
  assert.match(calls[0]!, /-n 127\.0\.10\.12 kubeconfig /)
  assert.equal(statSync(join(dir, 'out', 'kubeconfig')).mode & 0o777, 0o600)
})

test('without --node the first control plane (cp1) is the one shown and asked', () => {
  const { r, calls } = kubeconfigStep()
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /kubeconfig .*\(targets: cp1\)/)
  assert.match(calls[0]!, /-n 127\.0\.10\.11 kubeconfig /)
})
