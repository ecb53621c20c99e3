// Starts the lab's talosctl daemon (lab/talosctl/daemon.ts) from the current bundle, registered in lab.json so
// `lab down` stops it. Without it lab/bin/talosctl still works, one Node process per call.
import { execFileSync } from 'node:child_process'
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { isAlive, spawnDetached, stopPid } from './processes.ts'
import { labDir, paths, REPO_ROOT } from './state.ts'
import { talosApiBinary } from './go-builds.ts'

/** The daemon did not come up; the message is one line naming the cause (`lab up` prints it without a stack). */
export class DaemonStartError extends Error {}

export async function startTalosctlDaemon(timeoutMs = 10_000): Promise<number> {
  // the bundle lab/bin/talosctl would run now (built here when this checkout has none or its sources changed)
  let build: string
  try {
    build = execFileSync(join(REPO_ROOT, 'lab/talosctl/current-build.sh'), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim()
  } catch (e) {
    throw new DaemonStartError(
      `could not build the lab talosctl bundle: ${causeFromLog(String((e as { stderr?: string }).stderr ?? ''))}`,
    )
  }
  const env = { ...process.env }
  delete env.NODE_OPTIONS // the bundle needs no loader (and tsx cannot resolve outside the repo)
  const log = join(labDir(), 'talosctl-daemon.log')
  const logStart = existsSync(log) ? statSync(log).size : 0
  const pid = spawnDetached(
    'talosctl-daemon',
    'lab',
    process.execPath,
    ['--no-warnings', join(build, 'daemon.mjs')],
    log,
    env,
  )
  const deadline = Date.now() + timeoutMs
  while (!existsSync(paths.talosctlSocket())) {
    if (!isAlive(pid))
      throw new DaemonStartError(`the lab talosctl daemon exited at start: ${causeFromLog(readFrom(log, logStart))}`)
    if (Date.now() > deadline) {
      await stopPid(pid, 1000)
      const said = causeFromLog(readFrom(log, logStart))
      throw new DaemonStartError(
        `the lab talosctl daemon (pid ${pid}) did not open ${paths.talosctlSocket()} within ${timeoutMs} ms: ${said}`,
      )
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  return pid
}

/** What a log file got since byte `from`. */
function readFrom(file: string, from: number): string {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch {
    return ''
  }
  try {
    const size = statSync(file).size
    const buf = Buffer.alloc(Math.max(0, size - from))
    readSync(fd, buf, 0, buf.length, from)
    return buf.toString('utf8')
  } finally {
    closeSync(fd)
  }
}

/**
 * The one line of a daemon's log that says why it stopped: its own "lab talosctl daemon: why" (daemon.ts), else the
 * message line of what Node prints for an uncaught error ("Error [ERR_MODULE_NOT_FOUND]: Cannot find package ..."),
 * else its last line.
 */
export function causeFromLog(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '')
  const own = lines.filter((l) => l.startsWith('lab talosctl daemon: ')).pop()
  if (own) return own.slice('lab talosctl daemon: '.length)
  const uncaught = lines.find((l) => /^[A-Za-z]*Error( \[[A-Z_]+\])?: /.test(l))
  return uncaught ?? lines.pop() ?? 'it wrote nothing to its log'
}

/**
 * Starts the lab's Talos API server (lab/talos-api, built by the preflight): Talos's gRPC API on every lab machine's
 * <address>:50000 for the real talosctl, backed by the machine model the daemon serves (lab/machine-api/).
 */
export async function startTalosApi(timeoutMs = 10_000): Promise<number> {
  const log = join(labDir(), 'talos-api.log')
  const logStart = existsSync(log) ? statSync(log).size : 0
  const pid = spawnDetached(
    'talos-api',
    'lab',
    talosApiBinary(),
    ['--model', paths.talosctlSocket(), '--run-dir', join(labDir(), 'talos-api')],
    log,
  )
  const deadline = Date.now() + timeoutMs
  while (!readFrom(log, logStart).includes('serving the lab')) {
    if (!isAlive(pid))
      throw new DaemonStartError(`the lab's Talos API server exited at start: ${causeFromLog(readFrom(log, logStart))}`)
    if (Date.now() > deadline) {
      await stopPid(pid, 1000)
      throw new DaemonStartError(`the lab's Talos API server (pid ${pid}) did not start within ${timeoutMs} ms`)
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  return pid
}
