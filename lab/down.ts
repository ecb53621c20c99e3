// `lab down`: stop every process the lab started and remove its directory. Pids come from lab.json,
// node.json and the sshd pid files; a /proc scan then catches anything whose command line points into the
// lab dir (e.g. a process started by a crashed command that never got recorded).
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { isAlive, procStat, stopPid } from './processes.ts'
import {
  REPO_ROOT,
  labDir,
  labExists,
  loadCluster,
  loadNode,
  paths,
  saveCluster,
  saveNode,
  writeFileAtomic,
} from './state.ts'
import { loadInventory } from '../config/inventory.ts'
import { journalPath } from '../lib/runner/journal.ts'

export interface ProcInfo {
  pid: number
  ppid: number
  cmdline: string[]
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const st = procStat(pid)
    if (!st) return undefined
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
    return { pid, ppid: st.ppid, cmdline }
  } catch {
    return undefined
  }
}

export function listProcs(): ProcInfo[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readProc(Number(d)))
    .filter((p): p is ProcInfo => !!p)
}

/** pids of this process and its ancestors: never candidates for killing. */
function selfAndAncestors(procs: ProcInfo[]): Set<number> {
  const byPid = new Map(procs.map((p) => [p.pid, p]))
  const out = new Set<number>()
  for (let pid: number | undefined = process.pid; pid && pid > 1 && !out.has(pid); pid = byPid.get(pid)?.ppid)
    out.add(pid)
  return out
}

export function descendants(root: number, procs = listProcs()): number[] {
  const out: number[] = []
  const queue = [root]
  while (queue.length) {
    const p = queue.shift()!
    for (const c of procs) if (c.ppid === p && !out.includes(c.pid)) (out.push(c.pid), queue.push(c.pid))
  }
  return out
}

/** The lab dir a process (a lab kube-api, started with cwd = repo) works on, from its environment. */
function processLabDir(pid: number): string | undefined {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
    const v = env.find((e) => e.startsWith('TALOS_LAB_DIR='))?.slice('TALOS_LAB_DIR='.length)
    if (v === undefined) return join(REPO_ROOT, '.lab')
    return resolve(readlinkSync(`/proc/${pid}/cwd`), v)
  } catch {
    return undefined
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

function exeName(pid: number): string {
  try {
    return (
      readlinkSync(`/proc/${pid}/exe`)
        .replace(/ \(deleted\)$/, '')
        .split('/')
        .pop() ?? ''
    )
  } catch {
    return ''
  }
}

/**
 * Whether a process belongs to the lab in `dir`: an etcd, sshd or node process whose command line points
 * into dir (sshd rewrites its argv into one string, "sshd: /usr/sbin/sshd -D -f DIR/... [listener]", so the
 * match is on the joined command line), or a lab server (kube-api, the machine API daemon, rescue shell) working on dir.
 * The real kube-apiserver, kube-controller-manager and kube-scheduler of a real-Kubernetes lab name files in dir.
 * Anything else (an operator's ssh client using the lab key, an editor) is never touched.
 */
export function belongsToLab(p: ProcInfo, dir: string, exe = exeName(p.pid)): boolean {
  const isSshd = exe === 'sshd' || p.cmdline[0]?.startsWith('sshd:')
  // the lab runs sshd, etcd, ipmi_sim (its BMCs), its Talos API server (lab/talos-api) and node processes; nothing
  // else is ever its own
  const isTalosApi = exe.startsWith('talos-api-')
  // a real-Kubernetes lab's control planes (lab/real-kube-node.ts): the built binaries are named kube-<component>-<key>
  const isKube = /^kube-(apiserver|controller-manager|scheduler)(-|$)/.test(exe)
  if (!isSshd && !isTalosApi && !isKube && exe !== 'etcd' && exe !== 'ipmi_sim' && exe !== 'node') return false
  const joined = p.cmdline.join(' ')
  if (new RegExp(`(^|[\\s='"])${escapeRe(dir)}(/|[\\s'"]|$)`).test(joined)) return true
  const labServer =
    exe === 'node' &&
    p.cmdline.some((a) => a.startsWith(join(REPO_ROOT, 'lab/')) || /^lab\/(kube-api|machine-api|rescue)\//.test(a))
  return labServer && processLabDir(p.pid) === dir
}

export function strayLabProcesses(dir = labDir()): ProcInfo[] {
  const procs = listProcs()
  const mine = selfAndAncestors(procs)
  return procs.filter((p) => !mine.has(p.pid) && belongsToLab(p, dir))
}

interface Recorded {
  pid: number
  what: string
}

function recordedPids(): Recorded[] {
  const out: Recorded[] = []
  const c = loadCluster()
  for (const p of c.processes) out.push({ pid: p.pid, what: `${p.kind} of ${p.node}` })
  for (const name of c.nodes) {
    try {
      const n = loadNode(name)
      if (n.etcd.pid) out.push({ pid: n.etcd.pid, what: `etcd of ${name}` })
      if (n.kubeApi.pid) out.push({ pid: n.kubeApi.pid, what: `kube-api of ${name}` })
    } catch {}
    const pidFile = join(paths.sshDir(name), 'sshd.pid')
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim())
      if (pid > 0) out.push({ pid, what: `sshd of ${name} (pid file)` })
    }
  }
  return out
}

export interface DownResult {
  stopped: string[]
  skipped: string[]
  left: ProcInfo[]
  removed: boolean
}

/** Stop everything; remove the lab dir unless keep. Throws nothing for a missing lab. */
export async function labDown(opts: { keep?: boolean; graceMs?: number } = {}): Promise<DownResult> {
  const dir = labDir()
  const res: DownResult = { stopped: [], skipped: [], left: [], removed: false }
  const grace = opts.graceMs ?? 3000

  const targets = new Map<number, string>()
  if (labExists()) {
    const procs = listProcs()
    const byPid = new Map(procs.map((p) => [p.pid, p]))
    for (const r of recordedPids()) {
      const p = byPid.get(r.pid)
      if (!p || !isAlive(r.pid)) continue
      // a recorded pid can be reused by an unrelated process after the lab's process died
      if (!belongsToLab(p, dir)) {
        res.skipped.push(
          `pid ${r.pid} (recorded as ${r.what}) is now \`${p.cmdline.join(' ').slice(0, 80)}\`, not a lab process: left alone`,
        )
        continue
      }
      if (!targets.has(r.pid)) targets.set(r.pid, r.what)
      if (r.what.startsWith('sshd'))
        for (const d of descendants(r.pid, procs)) if (!targets.has(d)) targets.set(d, `${r.what}: session`)
    }
  }
  for (const p of strayLabProcesses(dir))
    if (!targets.has(p.pid)) targets.set(p.pid, `unrecorded lab process: ${p.cmdline.join(' ').slice(0, 80)}`)

  await Promise.all(
    [...targets].map(async ([pid, what]) => {
      const t0 = Date.now()
      await stopPid(pid, grace)
      res.stopped.push(`${what} (pid ${pid}${process.env.LAB_DEBUG ? `, ${Date.now() - t0} ms` : ''})`)
    }),
  )

  res.left = [...targets.keys()].filter(isAlive).map((pid) => ({ pid, ppid: 0, cmdline: [targets.get(pid)!] }))
  res.left.push(...strayLabProcesses(dir).filter((p) => !targets.has(p.pid)))
  if (res.left.length > 0) return res

  if (labExists()) {
    if (opts.keep) {
      const c = loadCluster()
      c.processes = []
      saveCluster(c)
      for (const name of c.nodes) {
        try {
          const n = loadNode(name)
          delete n.etcd.pid
          delete n.kubeApi.pid
          saveNode(n)
        } catch {}
      }
    } else {
      forgetCluster(loadCluster().inventory)
      rmSync(dir, { recursive: true, force: true })
      res.removed = true
    }
  }
  return res
}

/**
 * A lab that is gone takes its cluster with it: the rendered configs and secrets in its output dir, and
 * its runbook journal entries, so the next lab's runbooks start fresh instead of resuming a dead cluster.
 */
function forgetCluster(inventoryFile: string): void {
  let inv
  try {
    inv = loadInventory(resolve(REPO_ROOT, inventoryFile)).cluster
  } catch {
    return
  }
  if (inv.outputDir) rmSync(resolve(REPO_ROOT, inv.outputDir), { recursive: true, force: true })
  const journal = journalPath()
  if (!existsSync(journal)) return
  const keep = readFileSync(journal, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false
      try {
        return (JSON.parse(l) as { cluster?: string }).cluster !== inv!.name
      } catch {
        return true
      }
    })
  writeFileAtomic(journal, keep.map((l) => l + '\n').join(''), 0o600)
}
