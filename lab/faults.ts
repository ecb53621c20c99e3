// Fault injection for drills: make a node look dead, crash its etcd, slow it down, or stop its API server.
// Faults live in node.json (faults), so the machine model, the Talos API server and the reconciler honour them until `heal`.
import { isAlive, forgetProcess } from './processes.ts'
import { reconcileNode, stopEtcd, stopKubeApi } from './node-services.ts'
import { rescueSshdPid, startRescueSshd, stopRescueSshd } from './sshd.ts'
import { loadCluster, loadNode, updateNode } from './state.ts'
import { faultsText } from './status.ts'
import { powerOnMachine } from './machine-power.ts'
import { apidStopped } from './machine-sequences.ts'
import { loseDisks } from './disk-loss.ts'
import { destroyEtcdData } from './etcd-recovery.ts'
import { UsageError } from '../lib/runner/flags.ts'

export const FAULT_KINDS = [
  'down',
  'etcd-crash',
  'slow',
  'api-down',
  'boot-fail',
  'etcd-data-loss',
  'disk-loss',
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]
export const DEFAULT_SLOW_MS = 8000

export function checkNode(name: string | undefined): string {
  const nodes = loadCluster().nodes
  if (!name || !nodes.includes(name))
    throw new UsageError(
      `${name ? `unknown node ${JSON.stringify(name)}` : 'missing node'}; lab nodes: ${nodes.join(', ')}`,
    )
  return name
}

export function checkKind(kind: string | undefined): FaultKind {
  if (!kind || !(FAULT_KINDS as readonly string[]).includes(kind)) {
    throw new UsageError(
      `${kind ? `unknown fault ${JSON.stringify(kind)}` : 'missing fault kind'}; valid: ${FAULT_KINDS.join(', ')}`,
    )
  }
  return kind as FaultKind
}

/** Lines of what was done, each also reported as it happens (a later step may still fail). */
function sayer(say?: (line: string) => void): string[] {
  const lines: string[] = []
  const push = lines.push.bind(lines)
  lines.push = (...items: string[]) => {
    for (const i of items) say?.(i)
    return push(...items)
  }
  return lines
}

const waitDead = async (pid: number) => {
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, 10))
}

/** Apply a fault; returns what was done, one line each. */
export async function injectFault(
  node: string,
  kind: FaultKind,
  opts: { ms?: number; say?: (line: string) => void } = {},
): Promise<string[]> {
  const done = sayer(opts.say)
  switch (kind) {
    case 'down': {
      updateNode(node, (n) => (n.faults.down = true))
      done.push(`${node}: marked down (every talosctl call to it fails as to a dead host)`)
      const n = loadNode(node)
      if (isAlive(n.etcd.pid)) (await stopEtcd(node), done.push(`${node}: stopped etcd (pid ${n.etcd.pid})`))
      if (isAlive(n.kubeApi.pid))
        (await stopKubeApi(node, 'crash'),
          done.push(`${node}: killed kube-api (pid ${n.kubeApi.pid}); a VIP it held moves once its etcd lease expires`))
      // a dead machine does not answer SSH either
      const sshd = rescueSshdPid(node)
      if (sshd) (await stopRescueSshd(node), done.push(`${node}: stopped rescue sshd (pid ${sshd})`))
      // lab/talos-api stops serving a machine marked down at its next look at the model (ten a second): the fault
      // is in place once it has, so a call made right after meets a dead host (an apply-config sent in between went
      // through, and the e2e's "node dies during apply-config" saw it applied)
      await apidStopped(node)
      break
    }
    case 'etcd-crash': {
      updateNode(node, (n) => (n.faults.etcdCrash = true))
      const n = loadNode(node)
      if (isAlive(n.etcd.pid)) {
        process.kill(n.etcd.pid!, 'SIGKILL')
        await waitDead(n.etcd.pid!)
        forgetProcess('etcd', node)
        updateNode(node, (x) => delete x.etcd.pid)
        done.push(`${node}: killed etcd (SIGKILL, pid ${n.etcd.pid}); it stays down until heal`)
      } else {
        done.push(`${node}: etcd was not running; marked crashed so nothing restarts it until heal`)
      }
      break
    }
    case 'slow': {
      const ms = opts.ms ?? DEFAULT_SLOW_MS
      if (!Number.isInteger(ms) || ms <= 0) throw new UsageError(`--ms must be a positive integer (got ${opts.ms})`)
      updateNode(node, (n) => (n.faults.slowMs = ms))
      done.push(`${node}: every talosctl call now takes ${ms} ms longer`)
      break
    }
    case 'api-down': {
      updateNode(node, (n) => (n.faults.apiDown = true))
      const n = loadNode(node)
      if (isAlive(n.kubeApi.pid))
        (await stopKubeApi(node, 'crash'),
          done.push(`${node}: killed kube-api (pid ${n.kubeApi.pid}); a VIP it held moves once its etcd lease expires`))
      else done.push(`${node}: kube-api was not running; marked down`)
      break
    }
    case 'boot-fail': {
      updateNode(node, (n) => (n.faults.bootFail = true))
      done.push(`${node}: the next upgrade's image fails to boot; the node comes back on its previous installation`)
      break
    }
    case 'etcd-data-loss': {
      if (loadNode(node).role !== 'controlplane') throw new UsageError(`${node} runs no etcd: not a control-plane node`)
      done.push(...(await destroyEtcdData(node)))
      break
    }
    case 'disk-loss': {
      done.push(...(await loseDisks(node)))
      break
    }
  }
  return done
}

/** Clear every fault of the node and bring back what it should run. */
export async function healNode(node: string, say?: (line: string) => void): Promise<string[]> {
  const done = sayer(say)
  const before = loadNode(node)
  const had = faultsText(before.faults)
  // lost data does not come back: that fault stays until EPHEMERAL is wiped (lab/etcd-recovery.ts wipeEtcdData)
  updateNode(node, (n) => (n.faults = before.faults.etcdDataLoss ? { etcdDataLoss: true } : {}))
  done.push(had !== '-' ? `${node}: cleared faults ${had}` : `${node}: had no faults`)
  if (before.faults.etcdDataLoss)
    done.push(
      `${node}: etcd-data-loss stays: the data is gone; wipe it (talosctl reset --system-labels-to-wipe EPHEMERAL --reboot --graceful=false) and recover (npx zx runbooks/11-etcd-recover.ts)`,
    )
  // a machine left powered off (talosctl shutdown, its BMC) is powered on, as by its BMC
  if (before.power === 'off') done.push(...(await powerOnMachine(node)))
  await reconcileNode(node)
  const after = loadNode(node)
  if (after.etcd.pid && after.etcd.pid !== before.etcd.pid) done.push(`${node}: etcd running (pid ${after.etcd.pid})`)
  if (after.kubeApi.pid && after.kubeApi.pid !== before.kubeApi.pid)
    done.push(`${node}: kube-api running (pid ${after.kubeApi.pid})`)
  // a machine still in its rescue system gets its sshd back
  if (after.stage === 'off' && !rescueSshdPid(node))
    done.push(`${node}: rescue sshd running (pid ${await startRescueSshd(node)})`)
  return done
}
