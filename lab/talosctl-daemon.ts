// Starts the lab's talosctl daemon (lab/talosctl/daemon.ts) from the current bundle, registered in lab.json so
// `lab down` stops it. Without it lab/bin/talosctl still works, one Node process per call.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { spawnDetached } from './processes.ts'
import { labDir, paths, REPO_ROOT } from './state.ts'

export async function startTalosctlDaemon(timeoutMs = 10_000): Promise<number> {
  // the bundle lab/bin/talosctl would run now (built here when missing or older than the sources)
  const build = execFileSync(join(REPO_ROOT, 'lab/talosctl/current-build.sh'), { encoding: 'utf8' }).trim()
  const env = { ...process.env }
  delete env.NODE_OPTIONS // the bundle needs no loader (and tsx cannot resolve outside the repo)
  const pid = spawnDetached('talosctl-daemon', 'lab', process.execPath, ['--no-warnings', join(build, 'daemon.mjs')], join(labDir(), 'talosctl-daemon.log'), env)
  const deadline = Date.now() + timeoutMs
  while (!existsSync(paths.talosctlSocket())) {
    if (Date.now() > deadline) throw new Error(`the lab talosctl daemon (pid ${pid}) did not open ${paths.talosctlSocket()} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
  return pid
}
