// What 12-replace-node finds before it changes anything: is the named machine the blank replacement (maintenance
// mode, or a rescue system waiting for an image), still alive, or silent; which etcd member is the dead one; and
// whether the other members keep quorum once it is removed.
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { firstMeaningfulLine } from '../../lib/host/exec.ts'
import { isReady } from '../../lib/kube/kubectl.ts'
import { RefusedError } from '../../lib/runner/types.ts'
import type { EtcdMemberRow } from '../../lib/talos/parse.ts'
import { etcdView, type EtcdView } from '../etcd-view.ts'
import { probeMachine, type MachineState } from '../machine-state.ts'
import { verifyRescueHosts } from '../provision.ts'
import { knownFingerprint } from '../rescue-host-keys.ts'
import { presentedHostKey } from '../../lib/host/ssh.ts'

export interface Assessment {
  /** The named machine as 01 sees it: maintenance / configured / no-talos. */
  machine: MachineState
  /** Configured, its etcd member (control plane) healthy and voting, its Node Ready: nothing to replace. */
  healthy: boolean
  /** A control plane whose etcd answers, to ask and to act through; undefined for a worker. */
  via?: InventoryNode
  /** The member list as `via` sees it (control plane). */
  members: EtcdMemberRow[]
  /**
   * The dead machine's members while the machine has no config: named like the node, or unnamed with its peer URL
   * (deadMachineMembers).
   */
  deadMembers: EtcdMemberRow[]
  summary: string
}

const cause = (e: unknown) => firstMeaningfulLine((e as Error).message)

/**
 * Quorum after removing `node`'s member: the other control planes must have a majority of themselves running etcd
 * (3 members, 1 dead: 2 of 2 fine; 2 dead: 1 of 2, refused). Throws RefusedError naming who is down.
 */
export function assertQuorumWithout(
  node: InventoryNode,
  cps: InventoryNode[],
  v: EtcdView,
  inventoryFile: string,
): InventoryNode[] {
  const others = cps.filter((n) => n.name !== node.name)
  const running = others.filter((n) => v.service[n.name]?.state === 'Running')
  const needed = Math.floor(others.length / 2) + 1
  if (running.length >= needed) return running
  const why = others
    .filter((n) => !running.includes(n))
    .map((n) =>
      v.unreachable[n.name] !== undefined
        ? `${n.name}: ${n.address} does not answer (${firstMeaningfulLine(v.unreachable[n.name]!)})`
        : v.maintenance?.[n.name]
          ? `${n.name}: ${v.maintenance[n.name]}`
          : `${n.name}: etcd is ${v.service[n.name]?.state ?? 'not reported'}`,
    )
    .join('; ')
  throw new RefusedError(
    `replacing ${node.name} needs etcd quorum without it: only ${running.length} of the ${others.length} other members ` +
      `run etcd (${needed} needed); ${why}. Removing ${node.name}'s member now could not be committed, and a new member ` +
      `could not join. Bring ${others
        .filter((n) => !running.includes(n))
        .map((n) => n.name)
        .join(' / ')} back and re-run; if quorum is lost for good, restore from a snapshot first: ` +
      `npx zx runbooks/11-etcd-recover.ts --inventory ${inventoryFile}. Nothing was changed.`,
  )
}

/** The named control plane's own etcd: healthy, voting member? (configured machines only) */
async function ownEtcdProblem(c: Cluster, n: InventoryNode): Promise<string | undefined> {
  try {
    const [row] = await c.talos.etcdStatus([n.address])
    if (!row) return 'no etcd status row'
    if (row.learner) return undefined // joining: a re-run while the replacement catches up
    return row.errors ? `etcd reports ${row.errors}` : undefined
  } catch (e) {
    return `etcd does not answer (${cause(e)})`
  }
}

export async function assess(c: Cluster, n: InventoryNode): Promise<Assessment> {
  // quorum first: without it nothing below could be done, whatever the machine says
  const view = n.role === 'controlplane' ? await etcdView(c) : undefined
  const running = view ? assertQuorumWithout(n, controlPlanes(c.inv), view, c.inventoryFile) : []
  const state = await probeMachine(c, n)
  if (state.state === 'no-talos') await assertReachable(c.paths.outDir, n)
  const a: Assessment = { machine: state.state, healthy: false, members: [], deadMembers: [], summary: state.summary }
  if (n.role === 'controlplane') await assessControlPlane(c, n, running[0]!, a)
  else if (state.state === 'configured') {
    const k = await c.kube.node(n.name).catch(() => undefined)
    a.healthy = !!k && isReady(k)
  }
  return a
}

/** A machine that is to be written must be reachable with its pinned host key before anything changes. */
async function assertReachable(outDir: string, n: InventoryNode): Promise<void> {
  if (!n.rescue)
    throw new RefusedError(
      `${n.name} (${n.address}): no Talos API answers: boot the replacement machine from the Talos ISO (it then answers in maintenance mode), then re-run. Nothing was changed.`,
    )
  try {
    // a key nothing pins yet is asked about by the write step, before anything is written; here: is it up at all
    if (knownFingerprint(outDir, n)) await verifyRescueHosts(outDir, [n])
    else await presentedHostKey({ host: n.rescue.host, port: n.rescue.port })
  } catch (e) {
    throw new RefusedError(
      `${n.name} (${n.address}): neither Talos nor its rescue system answers as the inventory says (${(e as Error).message.replace(/:?\s*\n\s*/g, ': ')}). ` +
        `Power on the replacement (its BMC: ipmitool … chassis power on) so it boots its rescue system or the Talos ISO, ` +
        `and put its address and rescue host key in the inventory, then re-run. Nothing was changed.`,
      { cause: e },
    )
  }
}

/** True when `url` is `address`'s etcd peer URL (port 2380); the scheme is not compared (see deadMachineMembers). */
export function isPeerUrlOf(url: string, address: string): boolean {
  try {
    const u = new URL(url)
    return u.hostname.replace(/^\[|\]$/g, '') === address.replace(/^\[|\]$/g, '') && u.port === '2380'
  } catch {
    return false
  }
}

/**
 * The members that are the dead machine's: those named like the node, and any member without a name whose peer URL
 * is the node's address on 2380. A joining Talos node (v1.10.3 internal/app/machined/pkg/system/services/etcd.go
 * addMember, lines 283-295) removes only a member whose Name equals its hostname, then calls MemberAddAsLearner with
 * its peer URL https://<address>:2380 (formatEtcdURL, line 695). A learner that was added but never started has no
 * name (etcd v3.5.21 server/etcdserver/api/v3rpc/member.go:50 adds it with Name ""; the member sets its name when it
starts: server.go:2062 publishV3), so it is missed by that removal, and
 * every later MemberAddAsLearner for the same peer URL fails with "etcdserver: Peer URLs already exists"
 * (etcd v3.5.21 server/etcdserver/api/membership/cluster.go:330, api/v3rpc/rpctypes/error.go:41) until Talos's
 * 30-minute join timeout (constants.EtcdJoinTimeout). Such a learner is left when an add was committed while its
 * 30 s attempt timed out (etcd.go:341-352 retries), or when the machine died right after the add. The scheme is not
 * compared: Talos's peer URLs are https, the lab's plain http on the same host and port.
 */
export function deadMachineMembers(node: InventoryNode, members: EtcdMemberRow[]): EtcdMemberRow[] {
  return members.filter(
    (m) => m.hostname === node.name || (m.hostname === '' && m.peerUrls.some((u) => isPeerUrlOf(u, node.address))),
  )
}

/** A member as the runbook names it: its hostname and id, or for a member that never started its id and peer URL. */
export const memberLabel = (m: EtcdMemberRow): string =>
  m.hostname ? `${m.hostname} ${m.id}` : `${m.id} (never started, peer URL ${m.peerUrls.join(',') || 'none'})`

async function assessControlPlane(c: Cluster, n: InventoryNode, via: InventoryNode, a: Assessment): Promise<void> {
  a.via = via
  a.members = await c.talos.etcdMembers(a.via!.address)
  const named = a.members.filter((m) => m.hostname === n.name)
  if (a.machine !== 'configured') {
    // no config: no etcd of its own is joining yet, so an unnamed member with its peer URL is a leftover too
    a.deadMembers = deadMachineMembers(n, a.members)
    return
  }
  const problem = await ownEtcdProblem(c, n)
  // its own join may be what is stuck: an unnamed learner at its peer URL that does not start (an add that timed out,
  // or the dead machine's last attempt) fails every join with "Peer URLs already exists"; a reboot does not clear it
  const stuck = deadMachineMembers(n, a.members).filter((m) => m.hostname === '')
  if (problem)
    throw new RefusedError(
      `${n.name} runs Talos with its machine config: this is not a lost machine, and its ${problem}. ` +
        (stuck.length
          ? `etcd lists ${stuck.map(memberLabel).join(', ')}: if it stays without a name, it is no member that ` +
            `started, and Talos's join fails on its peer URL ("Peer URLs already exists") until it is removed: ` +
            `talosctl -n ${via.address} etcd remove-member ${stuck.map((m) => m.id).join(' ')}, then re-run. `
          : '') +
        `Repair it ` +
        // Talos refuses `service etcd restart` through its API (v1.10.3 internal/app/machined/pkg/system/system.go
        // APIRestart: only services that allow it, kubelet and extensions; etcd does not), so the repair is a reboot
        `(talosctl -n ${n.address} reboot, which restarts its etcd; see "One etcd member down" in the README), or to rebuild it ` +
        `from scratch wipe it first (talosctl -n ${n.address} reset --graceful=false --reboot), then re-run. Nothing was changed.`,
    )
  const k = await c.kube.node(n.name).catch(() => undefined)
  a.healthy = named.length === 1 && !named[0]!.learner && !!k && isReady(k)
}
