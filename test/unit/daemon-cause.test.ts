// causeFromLog: the one line `lab up` shows when the lab's machine API daemon does not come up, taken from what the
// daemon (or Node, for an error the daemon could not catch) really wrote to its log.
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { causeFromLog } from '../../lab/daemons.ts'

/** What Node writes to stderr when `code` (an ES module) dies. */
function crashOutput(code: string): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  })
  assert.notEqual(r.status, 0)
  return r.stderr
}

test("an import that fails before the daemon runs: the message line of Node's report, not its stack or source excerpt", () => {
  const log = crashOutput("import 'no-such-package-i17'")
  assert.match(log, /^\s+at /m) // the report has a stack
  assert.match(
    causeFromLog(log),
    /^Error \[ERR_MODULE_NOT_FOUND\]: Cannot find package 'no-such-package-i17' imported from \S+$/,
  )
})

test('an unhandled listen error: the line naming the errno and the path', () => {
  const log = crashOutput(
    "import { createServer } from 'node:net'; createServer().listen('/nonexistent-i17/machine-api.sock')",
  )
  assert.equal(causeFromLog(log), 'Error: listen EACCES: permission denied /nonexistent-i17/machine-api.sock')
})

test("the daemon's own line wins over Node's error lines around it", () => {
  const log =
    'Error: something earlier\nlab machine API daemon: /x/machine-api.sock is 135 bytes, longer than the 107 a unix socket address holds: use a shorter TALOS_LAB_DIR\n\nNode.js v20.20.2\n'
  assert.equal(
    causeFromLog(log),
    '/x/machine-api.sock is 135 bytes, longer than the 107 a unix socket address holds: use a shorter TALOS_LAB_DIR',
  )
  assert.equal(causeFromLog('killed by someone\n\n'), 'killed by someone')
  assert.equal(causeFromLog(''), 'it wrote nothing to its log')
})
