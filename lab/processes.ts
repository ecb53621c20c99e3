// Long-running lab processes (real etcd, real sshd, the real Kubernetes control plane) are started detached, tracked
// by pid in lab.json, and stopped by pid: `lab down` must leave nothing running.
import { spawn } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { REPO_ROOT, loadCluster, saveCluster, type LabProcess } from './state.ts'

/**
 * The fields of /proc/<pid>/stat the lab reads (proc(5): state, ppid, starttime in clock ticks since boot); comm may
 * hold spaces and parens, so fields are counted from the last ')'. Undefined once the process is gone.
 */
export function procStat(pid: number): { state: string; ppid: number; startTicks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { state: f[0]!, ppid: Number(f[1]), startTicks: Number(f[19]) }
  } catch {
    return undefined
  }
}

/** How long the process has been running, from its start time (USER_HZ = 100); 0 when it is gone. */
export function runningForMs(pid: number): number {
  const st = procStat(pid)
  if (!st) return 0
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0])
  return Math.max(0, uptimeS * 1000 - st.startTicks * 10)
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // A detached child whose parent CLI exited is reaped by pid 1, which in some containers/VMs only happens
  // every second or so: until then it is a zombie that kill(0) still reports. A zombie has exited.
  return procStat(pid)?.state !== 'Z'
}

/** Start a detached process with its output in logFile; record it in lab.json. */
export function spawnDetached(
  kind: LabProcess['kind'],
  node: string,
  cmd: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const fd = openSync(logFile, 'a', 0o600)
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env, cwd: REPO_ROOT })
  closeSync(fd)
  child.unref()
  if (!child.pid) throw new Error(`could not start ${kind} for ${node}: ${cmd}`)
  const c = loadCluster()
  c.processes = c.processes.filter((p) => isAlive(p.pid) && !(p.kind === kind && p.node === node))
  c.processes.push({ pid: child.pid, kind, node })
  saveCluster(c)
  return child.pid
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the pid is gone. */
export async function stopPid(
  pid: number | undefined,
  graceMs = 3000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (!isAlive(pid)) return
  try {
    process.kill(pid!, signal)
  } catch {
    return
  }
  const deadline = Date.now() + graceMs
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
  if (isAlive(pid)) {
    try {
      process.kill(pid!, 'SIGKILL')
    } catch {}
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 10))
  }
}

/** SIGKILL to the process group a detached process leads (spawnDetached): its children go with it. */
export function killGroup(pid: number | undefined): void {
  if (!pid) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {}
}

export function forgetProcess(kind: LabProcess['kind'], node: string): void {
  const c = loadCluster()
  c.processes = c.processes.filter((p) => !(p.kind === kind && p.node === node))
  saveCluster(c)
}

export function portOpen(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port })
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(timeoutMs, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

export async function waitForPort(host: string, port: number, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await portOpen(host, port)) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`)
}

/** Command line to run a lab TypeScript entry point as its own process. */
export function tsEntry(relPath: string, args: string[]): { cmd: string; args: string[] } {
  return { cmd: process.execPath, args: ['--import', 'tsx', join(REPO_ROOT, relPath), ...args] }
}
