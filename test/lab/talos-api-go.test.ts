// The Go unit tests of the lab's Talos API server (lab/talos-api/*_test.go: the control plane's flags and Talos's
// extraArgs merge policies, …), run by `npm test` with the toolchain and module mode the build uses.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { GO_TOOLCHAIN } from '../../lab/go-builds.ts'
import { REPO_ROOT } from '../../lab/state.ts'

test('go test ./... in lab/talos-api passes', () => {
  const r = spawnSync('go', ['test', './...'], {
    cwd: join(REPO_ROOT, 'lab/talos-api'),
    env: { ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN, GOFLAGS: '-mod=readonly' },
    encoding: 'utf8',
    timeout: 10 * 60_000,
  })
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  assert.match(r.stdout, /^ok\s+talos-runbooks\/lab\/talos-api\b/m)
})
