// The steps of 12-replace-node: remove the dead machine's etcd member and Node, then bring the new machine in with
// 01's and 02's own step functions for that one node, wait for it to join etcd (learner, promoted) and Kubernetes.
// The step bodies the runbook wires (each a call to the phases above, with what the run found) close this file.
import { existsSync } from 'node:fs'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { isReady, waitFor } from '../../lib/kube/kubectl.ts'
import { log } from '../../lib/runner/log.ts'
import { RefusedError, type StepDef, type StepHandle } from '../../lib/runner/types.ts'
import { run } from '../../lib/host/exec.ts'
import type { EtcdMemberRow } from '../../lib/talos/parse.ts'
import { isoInstructions, provisionState, reportMaintenance, waitForMaintenance, writeImages } from '../provision.ts'
import {
  applyPlan,
  assertClean,
  assertTalosValid,
  ensureTalosconfig,
  planNode,
  renderAll,
  waitConfigured,
  writeConfigs,
} from '../configure.ts'
import { approveCsrs, waitReady, waitRegistered } from '../join.ts'
import { backupFirstStep } from '../etcd-backup.ts'
import { requireChecksPass, runSuite } from '../run-checks.ts'
import { assess, isPeerUrlOf, memberLabel, type Assessment } from './assess.ts'
import { waitForStaticPods } from '../static-pods.ts'
import { nodeTalosctl } from '../live-probes.ts'

/** The dead member: `talosctl etcd remove-member <ID>` through a healthy member, then read back. */
export async function removeDeadMembers(
  c: Cluster,
  via: InventoryNode,
  dead: EtcdMemberRow[],
  dryRun: boolean,
): Promise<string[]> {
  for (const m of dead) await c.talos.etcdRemoveMember(via.address, m.id)
  if (dryRun) return dead.map((m) => m.id)
  const left = (await c.talos.etcdMembers(via.address)).filter((m) => dead.some((d) => d.id === m.id))
  if (left.length) throw new Error(`etcd still lists ${left.map(memberLabel).join(', ')}`)
  return dead.map((m) => m.id)
}

/**
 * The dead machine's Node: cordon, drain without waiting on pods its dead kubelet can never confirm gone
 * (kubectl drain --skip-wait-for-delete-timeout: pods whose deletion is older than that are not waited for), delete.
 * The new machine's kubelet then registers a fresh Node with its own address and capacity.
 */
export async function deleteDeadNode(c: Cluster, name: string): Promise<void> {
  await c.kube.run(['cordon', name], { mutating: true })
  await c.kube.run(
    [
      'drain',
      name,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--disable-eviction',
      '--skip-wait-for-delete-timeout=1',
      '--timeout=60s',
    ],
    { mutating: true, timeoutMs: 90_000 },
  )
  await c.kube.run(['delete', 'node', name, '--wait=true'], { mutating: true })
}

/** 01 for one machine: survey, image over its rescue system (host key pinned) or the ISO by hand, maintenance. */
export async function provisionOne(c: Cluster, n: InventoryNode, step: StepHandle): Promise<void> {
  const state = await provisionState(c, [n])
  const todo = state.pending()
  log.info(`  ${n.name.padEnd(12)} ${state.get(n.name)!.summary}`)
  if (todo.some((x) => x.rescue)) {
    await writeImages(c, todo, step)
  } else if (todo.length && !(await step.confirm(isoInstructions(c, todo))))
    throw new RefusedError(`${n.name}: not booted from the Talos ISO; nothing was changed on it`)
  if (step.dryRun) return
  await waitForMaintenance(c, [n])
  await reportMaintenance(c, [n])
}

/**
 * 02 for one machine: the cluster's own secrets bundle (never a new one: a config from another bundle could not join),
 * render + lint + validate every config (all or nothing), plan and apply this node's, wait until it runs it.
 */
export async function configureOne(c: Cluster, n: InventoryNode, dryRun: boolean): Promise<string> {
  if (!existsSync(c.paths.secrets))
    throw new RefusedError(
      `no secrets bundle at ${c.paths.secrets}: ${n.name} must get a config made from the cluster's own secrets, or it cannot join. Restore the bundle from your backup and re-run. Nothing was changed.`,
    )
  const rendered = renderAll(c)
  assertClean(rendered)
  await assertTalosValid(c, rendered)
  if (!dryRun) writeConfigs(c, rendered)
  await ensureTalosconfig(c)
  const plan = await planNode(c, n, rendered.configs.get(n.name)!)
  if (plan.change === 'none') return 'runs its config already'
  await applyPlan(c, plan, dryRun)
  if (!dryRun) await waitConfigured(c, [n])
  return plan.change === 'install' ? `installed to ${n.installDisk} with its config` : 'config updated'
}

/** What is still wrong with etcd's membership: every control plane once by name, voting, no learner, nobody else. */
export function membershipProblems(cps: string[], members: EtcdMemberRow[]): string[] {
  const problems: string[] = []
  for (const name of cps) {
    const mine = members.filter((m) => m.hostname === name)
    if (mine.length === 0) problems.push(`${name} is no member yet`)
    else if (mine.length > 1) problems.push(`${mine.length} members are named ${name} (hostnames must be unique)`)
  }
  for (const m of members) {
    if (m.learner) problems.push(`${m.hostname || m.id} is still a learner`)
    if (!cps.includes(m.hostname))
      problems.push(`member ${m.hostname || '(not started)'} ${m.id} is no inventory control plane`)
  }
  return problems
}

/**
 * The member list as the first of `askers` that answers. Asked of a voting member, never of the joining node: talosctl
 * etcd members sends QueryLocal (v1.10.3 cmd/talosctl/cmd/talos/etcd.go:210-212), so machined asks the node's own
 * etcd, with require-leader (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:1767-1780), and an
 * etcd learner serves only Status and serializable Range (etcd v3.5.21 server/etcdserver/api/v3rpc/util.go:140-149,
 * interceptor.go:52-54: "etcdserver: rpc not supported for learner") until it is promoted.
 */
export async function membersFromVoters(c: Cluster, askers: InventoryNode[]): Promise<EtcdMemberRow[]> {
  let last: unknown = new Error('no control plane to ask for the etcd members')
  for (const v of askers) {
    try {
      return await c.talos.etcdMembers(v.address)
    } catch (e) {
      last = e
    }
  }
  throw last
}

/** The control planes to ask for the member list while `n` joins: `via` first, then the others; never `n`. */
export function votersToAsk(c: Cluster, n: InventoryNode, via?: InventoryNode): InventoryNode[] {
  const others = controlPlanes(c.inv).filter((x) => x.name !== n.name)
  return via && via.name !== n.name ? [via, ...others.filter((x) => x.name !== via.name)] : others
}

/**
 * Wait until the new member joined as a learner and was promoted: the members are exactly the control planes. The
 * member list comes from the other control planes (`via` first): the joining node's own etcd refuses it while it is a
 * learner (membersFromVoters).
 */
export async function waitPromoted(
  c: Cluster,
  n: InventoryNode,
  step: StepHandle,
  via?: InventoryNode,
  timeoutMs = 10 * 60_000,
): Promise<EtcdMemberRow[]> {
  const cps = controlPlanes(c.inv).map((x) => x.name)
  const askers = votersToAsk(c, n, via)
  const t0 = Date.now()
  let seenLearner = false
  return waitFor(
    `${n.name} to join etcd and be promoted (${cps.join(', ')} voting, no learner)`,
    async () => {
      const members = await membersFromVoters(c, askers)
      // added (no name until it starts) or started: either is n's learner
      const mine = (m: EtcdMemberRow) =>
        m.hostname === n.name || (m.hostname === '' && m.peerUrls.some((u) => isPeerUrlOf(u, n.address)))
      if (members.some((m) => mine(m) && m.learner)) seenLearner = true
      const problems = membershipProblems(cps, members)
      step.progress(
        `${((Date.now() - t0) / 1000).toFixed(0)} s: ${problems.join('; ') || 'all members voting'}${seenLearner ? ' (seen as a learner)' : ''}`,
      )
      if (problems.length) throw new Error(problems.join('; '))
      // etcd status is a Status call, which a learner serves too
      const [own] = await c.talos.etcdStatus([n.address])
      if (!own || own.learner || own.errors) throw new Error(`${n.name}'s etcd: ${own?.errors || 'not ready'}`)
      return members
    },
    { timeoutMs, intervalMs: 1000 },
  )
}

/** The Node named like the machine is the new machine's: its InternalIP is the inventory address, no other has it. */
export async function nodeObjectProblems(c: Cluster, n: InventoryNode): Promise<string[]> {
  const nodes = await c.kube.nodes()
  const ip = (k: (typeof nodes)[number]) =>
    (k as { status?: { addresses?: { type: string; address: string }[] } }).status?.addresses?.find(
      (a) => a.type === 'InternalIP',
    )?.address
  const problems: string[] = []
  const mine = nodes.find((k) => k.metadata.name === n.name)
  if (!mine) problems.push(`no Node ${n.name}`)
  else if (ip(mine) !== n.address) problems.push(`Node ${n.name} has InternalIP ${ip(mine)}, not ${n.address}`)
  else if (!isReady(mine)) problems.push(`Node ${n.name} is not Ready`)
  for (const k of nodes)
    if (k.metadata.name !== n.name && ip(k) === n.address)
      problems.push(`Node ${k.metadata.name} also has ${n.name}'s address ${n.address}`)
  return problems
}

/** 04 for one machine: registered, its serving CSR approved when it matches the inventory, Ready. */
export async function joinOne(c: Cluster, n: InventoryNode): Promise<void> {
  await waitRegistered(c, [n])
  const scope = `not ${n.name}, the node being replaced (04-join approves the others)`
  for (const d of await approveCsrs(c, [n], scope)) if (d.approve) log.info(`  approved ${d.name}: ${d.reason}`)
  await waitReady(c, [n])
}

/** What the runbook builds from --node (the machine, when the run started) and what assess found. */
export type ReplaceCtx = Cluster & { node: InventoryNode; a?: Assessment; t0: number }

/** What the run found (a resumed run or --step finds it again). */
const found = async (c: ReplaceCtx) => (c.a ??= await assess(c, c.node))
export const isCp = (c: ReplaceCtx) => c.node.role === 'controlplane'
const nothingToDo = (c: ReplaceCtx) => ({
  done: true,
  reason: `${c.node.name} is alive and healthy: nothing to replace`,
})

/** assess: what the machine runs, the dead etcd member, quorum without it (refused otherwise, in assess.ts). */
export async function assessAndShow(c: ReplaceCtx) {
  c.a = await assess(c, c.node)
  log.info(`  ${c.node.name.padEnd(12)} ${c.a.summary}`)
  if (c.a.via)
    log.info(
      `  etcd members (as ${c.a.via.name} sees them): ${c.a.members.map((m) => `${m.hostname || '?'} ${m.id}${m.learner ? ' (learner)' : ''}`).join(', ')}`,
    )
  if (c.a.healthy) log.ok(`${c.node.name} is alive and healthy: nothing to replace`)
  else if (c.a.deadMembers.length) log.info(`  dead member: ${c.a.deadMembers.map(memberLabel).join(', ')}`)
  return { machine: c.a.machine, healthy: c.a.healthy, dead: c.a.deadMembers.map((m) => m.id) }
}

/** The backup-first step (steps/etcd-backup.ts), skipped when the machine is alive and healthy: nothing will change. */
export function backupUnlessHealthy<C extends ReplaceCtx & { dryRun: boolean; flags: { noBackup?: boolean } }>(
  reason: string,
): StepDef<C> {
  const backup = backupFirstStep<C>(reason)
  return {
    ...backup,
    async check(c, step) {
      return (await found(c)).healthy ? nothingToDo(c) : backup.check!(c, step)
    },
  }
}

/** remove-member is done for a worker (no member), a healthy machine, or when no member is named like the node. */
export async function noDeadMemberLeft(c: ReplaceCtx) {
  if (!isCp(c)) return { done: true, reason: 'a worker has no etcd member' }
  const a = await found(c)
  if (a.healthy) return nothingToDo(c)
  return a.deadMembers.length
    ? { done: false }
    : { done: true, reason: `no member named ${c.node.name} or unnamed with its peer URL is left` }
}

/** remove-member: the dead members assess found, through the healthy member it asked. */
export async function removeFoundDeadMembers(c: ReplaceCtx, step: StepHandle) {
  const a = await found(c)
  return { removed: await removeDeadMembers(c, a.via!, a.deadMembers, step.dryRun) }
}

/** delete-node is done when the machine runs its config (its Node is the new one's) or there is no Node left. */
/**
 * When the dead machine held the cluster VIP, the API behind it stays dark until the VIP's election lease expires:
 * Talos's VIP controller campaigns in an etcd election (60 s session TTL) and a machine that lost power never
 * resigns (v1.10.3 internal/app/machined/pkg/controllers/network/operator/vip.go). Wait for the API rather than fail.
 */
const API_AFTER_VIP_MOVE_MS = 3 * 60_000

async function waitForApiThroughVip(c: ReplaceCtx): Promise<void> {
  if ((await c.kube.run(['get', '--raw', '/readyz'], { nothrow: true, quiet: true })).exitCode === 0) return
  log.info(
    `  the Kubernetes API (${c.inv.cluster.endpoint}) does not answer yet: if ${c.node.name} held the VIP, it moves once its election lease expires (up to 60 s)`,
  )
  await c.kube.waitForReady(API_AFTER_VIP_MOVE_MS)
}

export async function noDeadNodeLeft(c: ReplaceCtx) {
  const a = await found(c)
  if (a.healthy) return nothingToDo(c)
  if (a.machine === 'configured')
    return { done: true, reason: `${c.node.name} runs its config: its Node is the new machine's` }
  await waitForApiThroughVip(c)
  return (await c.kube.node(c.node.name)) ? { done: false } : { done: true, reason: `no Node ${c.node.name}` }
}

/** provision is done once the machine runs Talos with a config. */
export async function alreadyProvisioned(c: ReplaceCtx) {
  const a = await found(c)
  if (a.healthy) return nothingToDo(c)
  return a.machine === 'configured'
    ? { done: true, reason: `${c.node.name} runs Talos with a config` }
    : { done: false }
}

/** configure is skipped only for a healthy machine; otherwise it runs (a config already in place is planned as no change). */
export async function healthyAlready(c: ReplaceCtx) {
  return (await found(c)).healthy ? nothingToDo(c) : { done: false }
}

/** configure: 02 for this one machine, and what it did. */
export async function configureAndShow(c: ReplaceCtx, step: StepHandle) {
  log.info(`  ${c.node.name}: ${await configureOne(c, c.node, step.dryRun)}`)
}

/** etcd-join: a worker has no member to wait for. */
export async function noEtcdMemberToJoin(c: ReplaceCtx) {
  return isCp(c) ? { done: false } : { done: true, reason: 'a worker has no etcd member' }
}

/** etcd-join: wait until the new member joined as a learner and was promoted. */
export async function waitUntilPromoted(c: ReplaceCtx, step: StepHandle) {
  if (step.dryRun) return
  // the voting member assess asked (a resumed run has none: the other control planes are asked in turn)
  const members = await waitPromoted(c, c.node, step, c.a?.via)
  log.info(`  members: ${members.map((m) => `${m.hostname} ${m.id}`).join(', ')} — all voting`)
  return { members: members.map((m) => m.hostname) }
}

/**
 * kubernetes-join: the new machine's Node registered, its serving CSR approved, Ready; a control plane's static pods
 * Running too (Talos starts them only once its etcd service is healthy, after its promotion: the checks that follow
 * would find them missing, and `talosctl health` would not count it as a control plane).
 */
export async function joinKubernetes(c: ReplaceCtx, step: StepHandle) {
  if (step.dryRun) return
  await reachableThroughEveryApid(c, c.node)
  await joinOne(c, c.node)
  if (isCp(c)) {
    log.info(`  waiting for ${c.node.name}'s kube-apiserver, kube-controller-manager and kube-scheduler to run`)
    await waitForStaticPods(c, { nodes: [c.node.name] })
  }
}

/**
 * Until `node` answers the Talos API through every other control plane's apid, as talosctl reaches it through the
 * talosconfig's endpoints. An apid that could not reach the machine while it was in maintenance mode (it presents a
 * certificate of its own then) retries with a back-off of up to 15 s (v1.10.3 internal/app/apid/pkg/backend/apid.go:
 * 100-114, MaxDelay), and until then answers for it with that TLS error: the checks would report the node down.
 */
async function reachableThroughEveryApid(c: ReplaceCtx, node: InventoryNode): Promise<void> {
  const via = controlPlanes(c.inv).filter((n) => n.name !== node.name)
  await waitFor(
    `${node.name}'s Talos API through ${via.map((n) => n.name).join(', ')}`,
    async () => {
      const ok = await Promise.all(
        via.map((cp) =>
          nodeTalosctl(c, cp, 10_000)
            .version([node.address])
            .then(
              () => true,
              () => false,
            ),
        ),
      )
      return ok.every(Boolean) ? true : undefined
    },
    { timeoutMs: 60_000, intervalMs: 2000 },
  )
}

/** unique-names: the machine is one etcd member (control plane) and one Node, with its inventory address. */
export async function checkUniqueNames(c: ReplaceCtx, step: StepHandle) {
  if (step.dryRun) return
  const cps = controlPlanes(c.inv)
  const problems = [
    ...(isCp(c)
      ? membershipProblems(
          cps.map((n) => n.name),
          await c.talos.etcdMembers(c.node.address),
        )
      : []),
    ...(await nodeObjectProblems(c, c.node)),
  ]
  if (problems.length) throw new Error(problems.join('; '))
  log.info(`  ${c.node.name}: one ${isCp(c) ? 'etcd member and one ' : ''}Node, InternalIP ${c.node.address}`)
}

/** validator-tuning only runs for the validator. */
export async function notTheValidator(c: ReplaceCtx) {
  return c.node.profile === 'validator'
    ? { done: false }
    : { done: true, reason: `${c.node.name} is not the validator` }
}

/** validator-tuning: 05-storage-tuning as its own process, so its steps and their output are 05's own. */
export async function runStorageTuning(c: ReplaceCtx, step: StepHandle) {
  // confirmed above: 05 runs unattended; its own steps (quorum, volumes, labels, taint) are printed below
  const args = ['zx', 'runbooks/05-storage-tuning.ts', '--inventory', c.inventoryFile, '--yes']
  const r = await run('npx', [...args, ...(step.dryRun ? ['--dry-run'] : [])], { nothrow: true })
  log.dim(
    `${r.stdout}${r.stderr}`
      .trim()
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n'),
  )
  const why = `05-storage-tuning exited ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`
  if (r.exitCode === 3) throw new RefusedError(why)
  if (r.exitCode !== 0) throw new Error(why)
}

/** checks: every post-change check (checks/all.ts); any failure fails the run. */
export async function runPostChecks(c: ReplaceCtx, step: StepHandle) {
  if (step.dryRun) return
  const report = await runSuite(c.inventoryFile, [], { callTimeoutMs: c.talos.timeoutMs })
  requireChecksPass(report)
  log.ok(`${c.node.name} replaced; the cluster passes the checks (${((Date.now() - c.t0) / 1000).toFixed(1)} s)`)
  return { summary: report.summary, seconds: (Date.now() - c.t0) / 1000 }
}
