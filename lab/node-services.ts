// Real processes behind a lab node: etcd (/usr/bin/etcd) on control-plane nodes and the real Kubernetes control plane.
// etcd runs as Talos's etcd service runs it (v1.10.3 internal/app/machined/pkg/system/services/etcd.go argsForInit
// and argsForControlPlane:380-400): mutual TLS for clients and peers, with the certificates Talos's EtcdController
// issues from cluster.etcd.ca at every boot (`talos-api render-etcd-pki`, in nodes/<n>/etcd-pki as in
// /system/secrets/etcd). Lab deviation: it listens on the node's loopback address only (Talos: every address and
// localhost), as the lab's machines share one host.
// Membership mirrors Talos: `bootstrap` creates a single-member cluster; every other control-plane node joins
// as a learner through a healthy member and is promoted once caught up.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { EtcdClient, memberIdHex, type EtcdMember } from './etcd-client.ts'
import { forgetProcess, isAlive, killGroup, spawnDetached, stopPid, tsEntry, waitForPort } from './processes.ts'
import { labBinary } from './tools.ts'
import { talosApiBinary } from './go-builds.ts'
import { etcdTlsFlags } from './control-plane.ts'
import { isDown, labDir, loadCluster, loadNode, loadNodes, paths, updateNode, type LabNode } from './state.ts'

export const ETCD_BIN = process.env.LAB_ETCD_BIN ?? labBinary('etcd', '/usr/bin/etcd')

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const etcdClientUrl = (n: LabNode) => `https://${n.address}:2379`
export const etcdPeerUrl = (n: LabNode) => `https://${n.address}:2380`

/** A client of n's etcd as machined's (its admin certificate, from n's etcd-pki). */
export const etcdClient = (n: LabNode, timeoutMs?: number) =>
  new EtcdClient(etcdClientUrl(n), paths.etcdPki(n.name), timeoutMs)

/**
 * What Talos's EtcdController writes to /system/secrets/etcd (controllers/secrets/etcd.go:183-198): the etcd CA and
 * the node's server, peer and admin certificates, issued anew from the machine config's cluster.etcd.ca.
 */
function renderEtcdPki(n: LabNode): void {
  const args = ['--config', paths.config(n.name), '--out', paths.etcdPki(n.name), '--node-ip', n.address]
  args.push('--default-hostname', n.name) // node-shape.ts hostnameOf: the lab's hostname when the config sets none
  const r = spawnSync(talosApiBinary(), ['render-etcd-pki', ...args], { encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(`etcd on ${n.name}: certificates: ${r.error?.message ?? r.stderr.trim()}`)
}

export function etcdDataDirNonEmpty(name: string): boolean {
  const d = paths.etcdData(name)
  return existsSync(d) && readdirSync(d).length > 0
}

/** A configured node: has a machine config and is not in maintenance/off. */
export function isConfigured(n: LabNode): boolean {
  return existsSync(paths.config(n.name)) && !['off', 'maintenance'].includes(n.stage)
}

export function etcdRunning(n: LabNode): boolean {
  return isAlive(n.etcd.pid)
}

/** Status of the etcd member on this node, or the error a client sees. */
export async function etcdHealthy(n: LabNode, timeoutMs = 1500): Promise<boolean> {
  if (!etcdRunning(n)) return false
  try {
    await etcdClient(n, timeoutMs).status()
    return true
  } catch {
    return false
  }
}

async function waitEtcdHealthy(n: LabNode, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    if (!isAlive(loadNode(n.name).etcd.pid))
      throw new Error(`etcd on ${n.name} exited; see ${join(paths.nodeDir(n.name), 'etcd.log')}`)
    try {
      await etcdClient(n, 1000).status()
      return
    } catch (e) {
      last = (e as Error).message
    }
    await sleep(100)
  }
  throw new Error(`etcd on ${n.name} not healthy after ${timeoutMs} ms: ${last}`)
}

/** A member of the running cluster that answers, other than `except`. */
export async function findHealthyMember(except?: string): Promise<LabNode | undefined> {
  for (const n of loadNodes()) {
    if (n.name === except || n.role !== 'controlplane') continue
    if (await etcdHealthy(n)) return n
  }
  return undefined
}

function etcdArgs(n: LabNode, clusterName: string, initialCluster: string, state: 'new' | 'existing'): string[] {
  return [
    '--name',
    n.name,
    '--data-dir',
    paths.etcdData(n.name),
    '--listen-client-urls',
    etcdClientUrl(n),
    '--advertise-client-urls',
    etcdClientUrl(n),
    '--listen-peer-urls',
    etcdPeerUrl(n),
    '--initial-advertise-peer-urls',
    etcdPeerUrl(n),
    '--initial-cluster',
    initialCluster,
    '--initial-cluster-state',
    state,
    '--initial-cluster-token',
    clusterName,
    ...etcdTlsFlags(paths.etcdPki(n.name)),
    '--heartbeat-interval',
    '100',
    '--election-timeout',
    '1000',
    '--log-level',
    'warn',
  ]
}

function clusterName(): string {
  return loadCluster().name
}

function spawnEtcd(n: LabNode, args: string[]): number {
  renderEtcdPki(n)
  const pid = spawnDetached('etcd', n.name, ETCD_BIN, args, join(paths.nodeDir(n.name), 'etcd.log'))
  updateNode(n.name, (x) => {
    x.etcd.pid = pid
    x.etcd.clientUrl = etcdClientUrl(n)
    x.etcd.peerUrl = etcdPeerUrl(n)
  })
  return pid
}

/**
 * Start the node's etcd. 'new': a fresh single-member cluster. 'join': become a member of the running cluster
 * (learner, then promoted). A node with a non-empty data dir restarts from its data in either mode.
 */
export async function startEtcd(name: string, mode: 'new' | 'join', timeoutMs = 20000): Promise<void> {
  const n = loadNode(name)
  if (n.role !== 'controlplane') throw new Error(`etcd: ${name} is not a control-plane node`)
  if (etcdRunning(n) && (await etcdHealthy(n))) return
  if (etcdRunning(n)) await stopPid(n.etcd.pid)

  if (etcdDataDirNonEmpty(name)) {
    // restart: etcd ignores the initial-* flags when its data dir has a member
    spawnEtcd(n, etcdArgs(n, clusterName(), `${name}=${etcdPeerUrl(n)}`, 'existing'))
    await waitEtcdHealthy(n, timeoutMs)
    await recordMemberId(n)
    return
  }

  if (mode === 'new') {
    spawnEtcd(n, etcdArgs(n, clusterName(), `${name}=${etcdPeerUrl(n)}`, 'new'))
    await waitEtcdHealthy(n, timeoutMs)
    await recordMemberId(n)
    return
  }

  if (joining.has(name)) return // an earlier call's join is still retrying (Talos: one etcd service per machine)
  joining.add(name)
  try {
    const { client, me, initial } = await joinAsLearner(n, timeoutMs)
    spawnEtcd(n, etcdArgs(n, clusterName(), initial, 'existing'))
    await waitForPort(n.address, 2379, timeoutMs)
    if (me.isLearner) await promote(client, me.ID, name, timeoutMs)
    await waitEtcdHealthy(n, timeoutMs)
    updateNode(name, (x) => (x.etcd.memberId = memberIdHex(me.ID)))
  } finally {
    joining.delete(name)
  }
}

/** Machines whose etcd is joining in this process (buildInitialCluster retries for up to 30 minutes). */
const joining = new Set<string>()

/** constants.EtcdJoinTimeout (v1.10.3 pkg/machinery/constants/constants.go:933): how long Talos retries a join. */
export const ETCD_JOIN_TIMEOUT_MS = 30 * 60_000
/** buildInitialCluster's retry unit (retry.Constant, WithUnits(3*time.Second), WithJitter(time.Second)). */
const JOIN_RETRY_MS = 3000

/**
 * Talos's join (v1.10.3 internal/app/machined/pkg/system/services/etcd.go buildInitialCluster, lines 308-377, and
 * addMember, lines 267-306), retried as Talos retries it: every attempt lists the members through a healthy member,
 * removes only a member whose Name is the node's hostname (line 288), adds the node's peer URL as a learner (line
 * 295) and lists again. A learner added earlier for this peer URL that never started has no name (etcd sets it when
 * the member first publishes it), so it is not removed, and every add fails with etcd's "etcdserver: Peer URLs
 * already exists" (etcd v3.5.21 api/v3rpc/rpctypes/error.go:41; membership/cluster.go:330) until someone removes it
 * or the 30-minute join timeout; meanwhile the etcd service waits in Preparing. A machine that went down, was reset or
 * rebooted in the meantime ends the attempts (Talos's retry runs in that boot's etcd service context).
 */
async function joinAsLearner(
  n: LabNode,
  timeoutMs: number,
): Promise<{ client: EtcdClient; me: EtcdMember; initial: string }> {
  const name = n.name
  const boot = n.bootedAt
  const deadline = Date.now() + ETCD_JOIN_TIMEOUT_MS
  let lastLogged = ''
  for (;;) {
    const cur = loadNode(name)
    if (isDown(cur) || !isConfigured(cur) || cur.bootedAt !== boot || etcdDataDirNonEmpty(name))
      throw new Error(`etcd: ${name}'s join was abandoned: the machine went down, rebooted or has etcd data now`)
    let err: Error
    try {
      const via = await findHealthyMember(name)
      if (!via) throw new Error(`no healthy etcd member in the cluster`)
      const client = etcdClient(via, 5000)
      const { me, members } = await addMember(client, n, timeoutMs)
      // buildInitialCluster (etcd.go:357-366): every member's name and peer URL, the new member under the node's name
      // (the lab names another unnamed member by its id, where Talos writes an empty name)
      const initial = members
        .map((m: EtcdMember) => `${m.ID === me.ID ? name : m.name || m.ID}=${m.peerURLs[0]}`)
        .join(',')
      return { client, me, initial }
    } catch (e) {
      err = e as Error
    }
    if (Date.now() > deadline) throw new Error(`etcd: ${name}: failed to build cluster arguments: ${err.message}`)
    // retry.WithErrorLogging: machined logs each failed attempt; the lab logs each new error once
    if (err.message !== lastLogged) {
      process.stderr.write(`${new Date().toISOString()} ${name}: etcd join: ${err.message}; retrying\n`)
      lastLogged = err.message
    }
    await sleep(JOIN_RETRY_MS)
  }
}

/** One addMember attempt (etcd.go:267-306); a freshly started cluster's transient refusals are retried at once. */
async function addMember(
  client: EtcdClient,
  n: LabNode,
  timeoutMs: number,
): Promise<{ me: EtcdMember; members: EtcdMember[] }> {
  const members = await client.members()
  // "if there's already a member with same hostname, it should be removed, as there will be a conflict" (etcd.go:
  // 284-292): a replacement machine named like the dead one evicts its member itself; hostnames must be unique, or a
  // joining node removes a live member. Only by name: an unnamed learner with this peer URL stays, and blocks the add.
  for (const m of members.filter((x) => x.name === n.name)) await client.removeMember(m.ID)
  // a freshly started cluster answers "etcdserver: unhealthy cluster" to member add for a moment: retried within the
  // attempt, so the lab's joins right after bootstrap do not wait Talos's 3 s retry unit each
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const r = await client.addMember([etcdPeerUrl(n)], true)
      return { me: r.member, members: r.members ?? (await client.members()) }
    } catch (e) {
      if (!/unhealthy cluster|not enough started members/.test((e as Error).message) || Date.now() > deadline) throw e
      await sleep(250)
    }
  }
}

async function promote(client: EtcdClient, id: string, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    try {
      await client.promoteMember(id)
      return
    } catch (e) {
      last = (e as Error).message
      // "can only promote a learner member which is in sync with leader": wait for it to catch up
    }
    await sleep(200)
  }
  throw new Error(`etcd: could not promote learner ${name}: ${last}`)
}

async function recordMemberId(n: LabNode): Promise<void> {
  const st = await etcdClient(n).status()
  updateNode(n.name, (x) => (x.etcd.memberId = memberIdHex(st.header.member_id)))
}

export async function stopEtcd(name: string): Promise<void> {
  const n = loadNode(name)
  await stopPid(n.etcd.pid)
  forgetProcess('etcd', name)
  updateNode(name, (x) => delete x.etcd.pid)
}

const REAL_KUBE_ENTRY = 'lab/real-kube-node.ts'

/**
 * Start this control-plane node's Kubernetes control plane: the supervisor of the real kube-apiserver,
 * controller-manager and scheduler (lab/real-kube-node.ts). Not waited for: kube-apiserver takes its time to start,
 * as on Talos.
 */
export function startKubeApi(name: string): void {
  const n = loadNode(name)
  if (isAlive(n.kubeApi.pid)) return
  const { cmd, args } = tsEntry(REAL_KUBE_ENTRY, ['--node', name])
  const pid = spawnDetached('kube-api', name, cmd, args, join(paths.nodeDir(name), 'kube-api.log'))
  updateNode(name, (x) => {
    x.kubeApi.pid = pid
    x.kubeApi.url = `https://${n.address}:6443`
  })
}

/**
 * Stop the node's API server. 'graceful' (SIGTERM: talosctl shutdown/reboot, an upgrade) lets it resign the VIP
 * election at once; 'crash' (SIGKILL: a dead machine, a power cut, a crashed process) leaves its election key to
 * expire with its etcd lease, as on a machine that vanished (lab/vip-election.ts).
 */
export async function stopKubeApi(name: string, how: 'graceful' | 'crash' = 'graceful'): Promise<void> {
  const n = loadNode(name)
  await stopPid(n.kubeApi.pid, 3000, how === 'crash' ? 'SIGKILL' : 'SIGTERM')
  // the real control plane's components are the supervisor's children, in its process group: none may outlive it
  killGroup(n.kubeApi.pid)
  forgetProcess('kube-api', name)
  updateNode(name, (x) => delete x.kubeApi.pid)
}

export function clusterBootstrapped(): boolean {
  return loadNodes().some((n) => n.bootstrapped)
}

/**
 * How long a control plane's etcd with an empty data dir waits to join before it gives up: Talos's
 * constants.EtcdJoinTimeout = 30 * time.Minute (pkg/machinery@v1.10.3/constants/constants.go:933), the retry of
 * buildInitialCluster (internal/app/machined/pkg/system/services/etcd.go:314). A lab setting, as the image pull time
 * is (lab/registry.ts): $TALOS_LAB_ETCD_JOIN_TIMEOUT_MS in the lab daemon's environment (createTestLab's
 * etcdJoinTimeoutMs), default Talos's 30 minutes, so a test need not wait half an hour.
 */
export function etcdJoinTimeoutMs(): number {
  const set = Number(process.env.TALOS_LAB_ETCD_JOIN_TIMEOUT_MS)
  if (process.env.TALOS_LAB_ETCD_JOIN_TIMEOUT_MS && Number.isFinite(set) && set >= 0) return set
  return 30 * 60_000
}

/** A lab setting in ms from the lab daemon's environment, as etcdJoinTimeoutMs. */
function msSetting(name: string, dflt: number): number {
  const set = Number(process.env[name])
  return process.env[name] && Number.isFinite(set) && set >= 0 ? set : dflt
}
const bootedAt = (n: LabNode) => Date.parse(n.bootedAt ?? new Date().toISOString())

/**
 * When this boot's CRI (containerd's CRI service) is up: $TALOS_LAB_CRI_UP_MS after the boot (`lab up` sets 2 s, a test
 * lab 0 unless it asks; on hardware some seconds, after the network and the EPHEMERAL volume). machined refuses Bootstrap until then (v1.10.3
 * runtime/v1alpha1/v1alpha1_runtime.go IsBootstrapAllowed).
 */
export const criUpAt = (n: LabNode) => bootedAt(n) + msSetting('TALOS_LAB_CRI_UP_MS', 0)

/**
 * When this boot's clock is synchronised (the TimeStatus resource's Synced): $TALOS_LAB_TIME_SYNC_MS after the boot
 * (`lab up` sets 4 s, a test lab 0 unless it asks; on hardware as long as NTP takes, forever when UDP 123 to machine.time.servers is blocked). machined
 * refuses Bootstrap until then ("time is not in sync yet", v1alpha1_server.go:424-429) and etcd's pre stage waits for it.
 */
export const timeSyncedAt = (n: LabNode) => bootedAt(n) + msSetting('TALOS_LAB_TIME_SYNC_MS', 0)

/**
 * When etcd's pre stage started on this boot (the "Running pre state" event of lab/machine-services.ts): once it
 * depends on is up (DependsOn: "cri") and its condition holds (Condition: time sync, network, etcd spec;
 * internal/app/machined/pkg/system/services/etcd.go:154-165).
 */
export const etcdPreStageAt = (n: LabNode) => Math.max(criUpAt(n), timeSyncedAt(n))

/**
 * When this control plane's etcd gave up waiting to join (undefined while it still waits, or when it is not waiting):
 * a stopped etcd with an empty data dir and no member of a bootstrapped cluster retries buildInitialCluster for
 * EtcdJoinTimeout from its pre stage on, then PreFunc fails with "failed to build initial etcd cluster"
 * (services/etcd.go:513-516). The service is then Failed and nothing restarts it (system.go:186-198: Start's goroutine
 * only records the state); BootstrapEtcd still stops and reloads it whatever its state (services/etcd.go:656-690), and
 * a reboot runs the pre stage, and its 30 minutes, anew. Not modelled: StartAllServices waits BootTimeout = 70 min
 * (v1alpha1_sequencer_tasks.go:466, constants.go:925) for every service to be up, and a failed boot sequence reboots
 * the machine (machined main.go:100-128): on Talos such a node reboots by itself 70 minutes after it booted.
 */
export function etcdJoinGaveUpAt(n: LabNode): number | undefined {
  if (n.role !== 'controlplane' || isAlive(n.etcd.pid) || n.faults.etcdDataLoss || n.etcd.recoverError) return undefined
  if (clusterBootstrapped() && n.etcd.memberId) return undefined
  if (etcdDataDirNonEmpty(n.name)) return undefined
  const at = etcdPreStageAt(n) + etcdJoinTimeoutMs()
  return Date.now() >= at ? at : undefined
}

/**
 * The service event of a join that timed out: PreFunc's error as service_runner.go:266-268 and system.go:191-196 word
 * it. buildInitialCluster's retry returns its ErrorSet ("N error(s) occurred:" and each distinct error on a line of its
 * own, go-retry@v0.3.3 retry.go:51-86); with no member answering, every attempt ends at its 30 s deadline
 * (services/etcd.go:341), which retry.go:240-241 turns into "timeout".
 */
export const ETCD_JOIN_TIMED_OUT =
  'Failed to run pre stage: failed to build initial etcd cluster: failed to build cluster arguments: 1 error(s) occurred:\n\ttimeout'

/**
 * Start whatever the node should run and isn't, stop what it should not run (stage, config, faults).
 * Used after heal, reboot and apply-config.
 */
export async function reconcileNode(name: string): Promise<void> {
  const n = loadNode(name)
  const up = !isDown(n) && isConfigured(n) && !['shutting down', 'rebooting'].includes(n.stage)
  if (n.role !== 'controlplane') return
  const wantEtcd =
    up &&
    !n.faults.etcdCrash &&
    !n.faults.etcdDataLoss &&
    !n.etcd.recoverError &&
    (clusterBootstrapped() || etcdDataDirNonEmpty(name))
  if (wantEtcd && !etcdRunning(n)) {
    // an empty data dir joins through a member that answers; with none (quorum lost for good, every data dir wiped)
    // Talos's etcd waits in Preparing to be bootstrapped or joined (v1.10.3
    // internal/app/machined/pkg/system/services/etcd.go argsForControlPlane: buildInitialCluster retries) for
    // EtcdJoinTimeout; once it has given up, nothing but a bootstrap or a reboot starts it again
    if (etcdDataDirNonEmpty(name) || (etcdJoinGaveUpAt(n) === undefined && (await findHealthyMember(name))))
      await startEtcd(name, 'join')
  } else if (!wantEtcd && etcdRunning(n)) {
    await stopEtcd(name)
  }
  const cur = loadNode(name)
  const wantApi = up && !cur.faults.apiDown && etcdRunning(cur)
  if (wantApi && !isAlive(cur.kubeApi.pid)) startKubeApi(name)
  else if (!wantApi && isAlive(cur.kubeApi.pid)) await stopKubeApi(name)
}

/**
 * `talosctl bootstrap` on a control-plane node: a new etcd cluster here, then (as Talos' controllers do,
 * after the API call has returned) every other configured control-plane node joins and the API servers
 * start — in a detached converge process, so bootstrap answers as fast as on a real node.
 */
export async function bootstrapEtcd(name: string): Promise<void> {
  await startEtcd(name, 'new')
  updateNode(name, (x) => (x.bootstrapped = true))
  const { cmd, args } = tsEntry('lab/converge.ts', [])
  spawnDetached('converge', name, cmd, args, join(labDir(), 'converge.log'))
}

/** Bring every node to what its stage, config and faults say it should run (joins, API servers). */
export async function convergeAll(): Promise<void> {
  const nodes = loadNodes()
  for (const n of nodes) if (n.role === 'controlplane') await reconcileNode(n.name)
}
