// `lab status`: what each simulated machine is doing, from the state files and the live processes.
import { isAlive, portOpen } from './processes.ts'
import { rescueEndpoint, rescueSshdPid } from './sshd.ts'
import { labDir, loadCluster, loadNodes, type Faults, type LabNode } from './state.ts'
import { currentVipHolder, readVipLog } from './vip-holders.ts'

export interface NodeStatus {
  name: string
  address: string
  role: LabNode['role']
  stage: LabNode['stage']
  talosVersion: string
  installDisk?: string
  etcd: { pid?: number; running: boolean; listening: boolean }
  kubeApi: { pid?: number; running: boolean; listening: boolean }
  ssh: { host?: string; port?: number; pid?: number; up: boolean }
  faults: Faults
}

export interface LabStatus {
  labDir: string
  cluster: string
  endpoint: string
  inventory: string
  createdAt: string
  /** The node whose API server answers on the VIP now, per vip-holders.log (only while that process lives). */
  vipHolder?: string
  nodes: NodeStatus[]
}

export async function collectStatus(): Promise<LabStatus> {
  const c = loadCluster()
  const nodes = await Promise.all(
    loadNodes().map(async (n): Promise<NodeStatus> => {
      const ep = rescueEndpoint(n.name)
      const sshPid = rescueSshdPid(n.name)
      const etcdRunning = isAlive(n.etcd.pid)
      const apiRunning = isAlive(n.kubeApi.pid)
      return {
        name: n.name,
        address: n.address,
        role: n.role,
        stage: n.stage,
        talosVersion: n.talosVersion,
        ...(n.installDisk ? { installDisk: n.installDisk } : {}),
        etcd: { pid: n.etcd.pid, running: etcdRunning, listening: etcdRunning && (await portOpen(n.address, 2379)) },
        kubeApi: {
          pid: n.kubeApi.pid,
          running: apiRunning,
          listening: apiRunning && (await portOpen(n.address, 6443)),
        },
        ssh: {
          host: ep?.host,
          port: ep?.port,
          pid: sshPid,
          up: !!ep && !!sshPid && (await portOpen(ep.host, ep.port)),
        },
        faults: n.faults,
      }
    }),
  )
  return {
    labDir: labDir(),
    cluster: c.name,
    endpoint: c.endpoint,
    inventory: c.inventory,
    createdAt: c.createdAt,
    vipHolder: currentVipHolder(readVipLog(), isAlive),
    nodes,
  }
}

export function faultsText(f: Faults): string {
  const out: string[] = []
  if (f.down) out.push('down')
  if (f.etcdCrash) out.push('etcd-crash')
  if (f.slowMs) out.push(`slow(${f.slowMs}ms)`)
  if (f.apiDown) out.push('api-down')
  if (f.bootFail) out.push('boot-fail')
  if (f.etcdDataLoss) out.push('etcd-data-loss')
  return out.join(',') || '-'
}

export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return (
    rows
      .map((r) =>
        r
          .map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]! + 2)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  )
}

export function formatStatus(s: LabStatus): string {
  const rows = [['NODE', 'ADDRESS', 'ROLE', 'STAGE', 'TALOS', 'ETCD', 'API', 'SSH', 'FAULTS']]
  for (const n of s.nodes) {
    const etcd = n.etcd.running
      ? `${n.etcd.pid}/${n.etcd.listening ? 'up' : 'starting'}`
      : n.role === 'controlplane'
        ? 'stopped'
        : '-'
    const api = n.kubeApi.running
      ? n.kubeApi.listening
        ? 'up'
        : 'starting'
      : n.role === 'controlplane'
        ? 'stopped'
        : '-'
    const ssh = n.ssh.up ? `up :${n.ssh.port}` : 'stopped'
    rows.push([n.name, n.address, n.role, n.stage, n.talosVersion || '-', etcd, api, ssh, faultsText(n.faults)])
  }
  const vip = s.vipHolder ? ` (VIP held by ${s.vipHolder})` : ''
  return `lab ${s.cluster} in ${s.labDir}\nendpoint ${s.endpoint}${vip}\n\n` + formatTable(rows)
}
