// Idle CPU of a lab's long-running processes over a window: utime+stime from /proc/<pid>/stat, for etcd its own and
// for a control plane ('kube-api') its whole process group (the supervisor lab/real-kube-node.ts and the real
// kube-apiserver, kube-controller-manager and kube-scheduler it starts).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpuTicksOf, processGroupOf } from './stats.ts'

const CLK_TCK = 100 // Linux USER_HZ

export interface ProcCpu {
  node: string
  kind: 'etcd' | 'kube-api'
  pid: number
  /** % of one core over the window. */
  cpuPct: number
}

export function labDaemons(labDir: string): { node: string; kind: 'etcd' | 'kube-api'; pid: number }[] {
  const c = JSON.parse(readFileSync(join(labDir, 'lab.json'), 'utf8')) as { nodes: string[] }
  const out: { node: string; kind: 'etcd' | 'kube-api'; pid: number }[] = []
  for (const name of c.nodes) {
    const n = JSON.parse(readFileSync(join(labDir, 'nodes', name, 'node.json'), 'utf8')) as {
      etcd: { pid?: number }
      kubeApi: { pid?: number }
    }
    if (n.etcd.pid) out.push({ node: name, kind: 'etcd', pid: n.etcd.pid })
    if (n.kubeApi.pid) out.push({ node: name, kind: 'kube-api', pid: n.kubeApi.pid })
  }
  return out
}

const stat = (pid: string) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
}

/** The CPU ticks of every live process in the group. */
function groupTicks(pgid: number): number {
  let sum = 0
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const s = stat(pid)
    if (s && processGroupOf(s) === pgid) sum += cpuTicksOf(s)
  }
  return sum
}

const ticks = (p: { kind: ProcCpu['kind']; pid: number }) => {
  if (p.kind === 'kube-api') return groupTicks(p.pid)
  const s = stat(String(p.pid))
  return s ? cpuTicksOf(s) : NaN
}

export async function measureIdleCpu(labDir: string, windowMs = 30_000): Promise<ProcCpu[]> {
  const procs = labDaemons(labDir)
  const before = procs.map(ticks)
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, windowMs))
  const secs = (performance.now() - t0) / 1000
  return procs.map((p, i) => ({ ...p, cpuPct: Math.round(((ticks(p) - before[i]!) / CLK_TCK / secs) * 1000) / 10 }))
}

// standalone: node --import tsx bench/idle-cpu.ts LABDIR [SECONDS]
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, '/bench/'))) {
  const rows = await measureIdleCpu(process.argv[2]!, Number(process.argv[3] ?? 30) * 1000)
  for (const r of rows)
    console.log(`${r.node.padEnd(12)} ${r.kind.padEnd(9)} pid ${String(r.pid).padEnd(7)} ${r.cpuPct.toFixed(1)}%`)
  console.log(`total ${rows.reduce((a, r) => a + r.cpuPct, 0).toFixed(1)}% of one core`)
}
