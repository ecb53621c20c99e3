// The README's first command (`npm run lab:deploy`): check that every program the lab needs is installed
// (installing the Debian packages when root, else exit 2 before anything starts), bring the lab up (if it is not)
// and run every runbook 01→10 against it, unattended, stopping at the first one that fails. Each runbook is run
// exactly as an engineer would. The lab stays up afterwards, for the checks and kubectl.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { preflight, preflightBuilds } from './preflight.ts'
import { REPO_ROOT } from './state.ts'

const ready = preflight() || (await preflightBuilds())
if (ready !== 0) process.exit(ready)

const inventory = process.argv[2] ?? 'inventory/lab.yaml'
const run = (cmd: string, args: string[]) => {
  process.stderr.write(`\n$ ${[cmd, ...args].join(' ')}\n`)
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, stdio: 'inherit', env: process.env })
  if (r.status !== 0) {
    process.stderr.write(
      `\n${[cmd, ...args].join(' ')} failed (exit ${r.status}); fix it and run again: finished runbooks skip what is done.\n`,
    )
    process.exit(r.status ?? 1)
  }
}

run('npx', ['tsx', 'lab/cli.ts', 'up', '--inventory', inventory])
const runbooks = readdirSync(join(REPO_ROOT, 'runbooks'))
  .filter((f) => /^\d\d-.*\.ts$/.test(f))
  // 11 and up repair a broken cluster (quorum lost for good, a dead machine): they refuse on a healthy one and are
  // never part of a deploy
  .filter((f) => Number(f.slice(0, 2)) <= 10)
  .sort()
for (const rb of runbooks) run('npx', ['zx', `runbooks/${rb}`, '--inventory', inventory, '--yes'])
process.stderr.write(
  `\nDeployed ${runbooks.length} runbooks against the lab. Check it: npx zx checks/all.ts --inventory ${inventory}\n`,
)
