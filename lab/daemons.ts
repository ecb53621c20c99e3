// The lab's two API daemons, started by `lab up` and the test lab (lab/testlab.ts), registered in lab.json so
// `lab down` stops them: the machine API daemon (lab/machine-api/daemon.ts: the machine model on a unix socket) and
// the Talos API server in front of it (lab/talos-api: Talos's gRPC API on every machine's :50000 for talosctl).
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { isAlive, spawnDetached, stopPid, tsEntry } from './processes.ts'
import { labDir, paths } from './state.ts'
import { talosApiBinary } from './go-builds.ts'

/** A daemon did not come up; the message is one line naming the cause (`lab up` prints it without a stack). */
export class DaemonStartError extends Error {}

const OWN_LINE = 'lab machine API daemon: '

export async function startMachineApiDaemon(timeoutMs = 30_000): Promise<number> {
  const log = join(labDir(), 'machine-api.log')
  const logStart = existsSync(log) ? statSync(log).size : 0
  const { cmd, args } = tsEntry('lab/machine-api/daemon.ts', [])
  const pid = spawnDetached('machine-api', 'lab', cmd, args, log)
  const socket = paths.machineApiSocket()
  const deadline = Date.now() + timeoutMs
  while (!existsSync(socket)) {
    if (!isAlive(pid))
      throw new DaemonStartError(
        `the lab's machine API daemon exited at start: ${causeFromLog(readFrom(log, logStart))}`,
      )
    if (Date.now() > deadline) {
      await stopPid(pid, 1000)
      const said = causeFromLog(readFrom(log, logStart))
      throw new DaemonStartError(
        `the lab's machine API daemon (pid ${pid}) did not open ${socket} within ${timeoutMs} ms: ${said}`,
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
 * The one line of a daemon's log that says why it stopped: its own "lab machine API daemon: why" (daemon.ts), else the
 * message line of what Node prints for an uncaught error ("Error [ERR_MODULE_NOT_FOUND]: Cannot find package ..."),
 * else its last line.
 */
export function causeFromLog(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '')
  const own = lines.filter((l) => l.startsWith(OWN_LINE)).pop()
  if (own) return own.slice(OWN_LINE.length)
  const uncaught = lines.find((l) => /^[A-Za-z]*Error( \[[A-Z_]+\])?: /.test(l))
  return uncaught ?? lines.pop() ?? 'it wrote nothing to its log'
}

/**
 * Starts the lab's Talos API server (lab/talos-api, built by the preflight): Talos's gRPC API on every lab machine's
 * <address>:50000 for talosctl, backed by the machine model the machine API daemon serves (lab/machine-api/).
 */
export async function startTalosApi(timeoutMs = 10_000): Promise<number> {
  const log = join(labDir(), 'talos-api.log')
  const logStart = existsSync(log) ? statSync(log).size : 0
  const pid = spawnDetached(
    'talos-api',
    'lab',
    talosApiBinary(),
    ['--model', paths.machineApiSocket(), '--run-dir', join(labDir(), 'talos-api')],
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

/**
 * Starts the kubelets of a real-Kubernetes lab (lab/real-kubelets.ts): one agent per running machine, kept in step
 * with the machines' boots.
 */
export function startKubelets(): number {
  const { cmd, args } = tsEntry('lab/real-kubelets.ts', [])
  return spawnDetached('kubelets', 'lab', cmd, args, join(labDir(), 'kubelets.log'))
}

/** Starts the lab's Image Factory (lab/factory-daemon.ts) on `host:port` and waits until it answers. */
export async function startImageFactory(host: string, port: number, timeoutMs = 15_000): Promise<number> {
  const log = join(labDir(), 'factory.log')
  const logStart = existsSync(log) ? statSync(log).size : 0
  const { cmd, args } = tsEntry('lab/factory-daemon.ts', [host, String(port)])
  const pid = spawnDetached('factory', 'lab', cmd, args, log)
  const deadline = Date.now() + timeoutMs
  while (!readFrom(log, logStart).includes('lab image factory on')) {
    if (!isAlive(pid))
      throw new DaemonStartError(`the lab's Image Factory exited at start: ${causeFromLog(readFrom(log, logStart))}`)
    if (Date.now() > deadline) {
      await stopPid(pid, 1000)
      throw new DaemonStartError(`the lab's Image Factory (pid ${pid}) did not start within ${timeoutMs} ms`)
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  return pid
}
