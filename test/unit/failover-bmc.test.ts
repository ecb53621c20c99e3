// 08-failover takes a node down with `talosctl shutdown` and powers it back on through its BMC. Unattended (--yes),
// a node without a BMC could never come back: 08 refuses before it runs anything (exit 3) and says what to do.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'failover-bmc-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

function run08(inventoryText: string, ...flags: string[]) {
  const inv = join(tmp, `inv-${flags.join('_').replace(/\W/g, '')}.yaml`)
  writeFileSync(inv, inventoryText)
  const env = {
    ...process.env,
    TALOS_RUNBOOKS_STATE_DIR: join(tmp, 'state'),
    TALOS_LAB_DIR: join(tmp, 'no-lab'),
    CI: 'true',
    NO_COLOR: '1',
  }
  const r = spawnSync('npx', ['zx', 'runbooks/08-failover.ts', '--inventory', inv, ...flags], {
    cwd: REPO,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { code: r.status, out: r.stdout + r.stderr }
}

const LAB = readFileSync(join(REPO, 'inventory/lab.yaml'), 'utf8')

test('--yes and a control plane without a BMC: refused up front (exit 3), naming the nodes, nothing run', () => {
  const noBmc = LAB.split('\n')
    .filter((l) => !/^\s+bmc: /.test(l) || l.includes('127.0.10.12'))
    .join('\n')
  const r = run08(noBmc, '--yes')
  assert.equal(r.code, 3, r.out)
  assert.match(
    r.out,
    /--yes with --action shutdown needs a BMC to power the node back on unattended, and cp1, cp3 have none in \S+: add a bmc: block/,
  )
  assert.doesNotMatch(r.out, /\$ .*talosctl|ipmitool/, 'no talosctl or ipmitool call before refusing')
})

test('--node with a BMC, or --action reboot, is not refused for a missing BMC elsewhere', () => {
  const noBmc = LAB.split('\n')
    .filter((l) => !/^\s+bmc: /.test(l) || l.includes('127.0.10.12'))
    .join('\n')
  for (const flags of [
    ['--node', 'cp2'],
    ['--action', 'reboot'],
  ]) {
    const r = run08(noBmc, '--yes', '--dry-run', ...flags)
    assert.doesNotMatch(r.out, /needs a BMC/, flags.join(' '))
  }
})
