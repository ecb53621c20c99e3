// One node's Talos upgrade with its gates: a control plane only while every etcd member is healthy, after an etcd
// snapshot, with the API answering through the VIP; a worker (the validator too) cordoned and drained first. Then
// `talosctl upgrade --image`, wait for the node on the new version, verify, uncordon. A failed verification throws a
// NodeRegression that carries the rollback and resume commands.
import { join } from 'node:path'
import { log } from '../../lib/runner/log.ts'
import { isReady, waitFor } from '../../lib/kube/kubectl.ts'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import { evaluateEtcd } from '../etcd-view.ts'
import type { NodeUpgrade } from './plan.ts'
import { missingKernelArgs } from '../../lib/host/procfs.ts'
import { quantityValue } from '../../lib/kube/quantity.ts'
import { hugepageBytes, hugepageKiB, hugepageQuantity, hugepageResource } from '../../config/hugepages.ts'
import { observeNode } from './observe.ts'
import { startProbes, type NodeTimeline } from './timeline.ts'
import { backupsDir, takeSnapshot } from '../etcd-backup.ts'

export interface UpgradeTimeouts {
  drainMs: number
  backMs: number
  /**
   * The `talosctl upgrade` call itself. machined answers only after it pulled and validated the installer image and,
   * on a control plane, took the etcd upgrade lock (v1.10.3 internal/app/machined/internal/server/v1alpha1/
   * v1alpha1_server.go Upgrade: pullAndValidateInstallerImage, tryLockUpgradeMutex); a cold pull outlasts the 30 s
   * --call-timeout, and killing talosctl then aborts the upgrade.
   */
  upgradeCallMs: number
}

class NodeRegression extends Error {
  override name = 'NodeRegression'
}

/** Every control-plane member answers, none reports an error, all name one leader. Throws what is wrong. */
async function assertEtcdHealthy(c: Cluster): Promise<void> {
  const cps = controlPlanes(c.inv)
  const members = await c.talos.etcdMembers(cps[0]!.address)
  const status = await c.talos.etcdStatus(cps.map((n) => n.address))
  const byAddr = new Map(cps.map((n) => [n.address, n.name]))
  const r = evaluateEtcd(
    cps.map((n) => n.name),
    members,
    status.map((s) => ({ ...s, node: byAddr.get(s.node) ?? s.node })),
  )
  if (typeof r === 'string') throw new Error(`etcd is not healthy: ${r}`)
}

/**
 * `<outputDir>/backups/etcd-before-<node>-<time>.db` through 10-etcd-backup's takeSnapshot: 0600 in a 0700 directory,
 * verified and in the backup index, so 11-etcd-recover can restore it. Its path, or a note on --dry-run.
 */
async function snapshotEtcd(c: Cluster, u: NodeUpgrade): Promise<string> {
  const e = await takeSnapshot(c, { name: u.node, address: u.address }, { reason: 'before' })
  return e ? `${join(backupsDir(c.paths.outDir), e.file)} (revision ${e.revision}, verified)` : '(dry run: none taken)'
}

/**
 * Cordon, then `kubectl drain` through the eviction API: a PodDisruptionBudget that allows no disruption keeps its
 * pods, and the drain fails after drainMs naming the budget (proven on the real kube-apiserver and
 * kube-controller-manager: test/lab/real-kube-apiserver.test.ts). Bare pods (no controller) also stop it: no --force.
 */
export async function cordonAndDrain(c: Pick<Cluster, 'kube'>, node: string, drainMs: number): Promise<void> {
  await c.kube.run(['cordon', node], { mutating: true })
  await c.kube.run(
    ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', `--timeout=${Math.round(drainMs / 1000)}s`],
    {
      mutating: true,
      timeoutMs: drainMs + 30_000,
    },
  )
}

/** Wait until the node answers on the target version, then list what does not match the plan. */
export async function verifyNode(c: Cluster, u: NodeUpgrade): Promise<string[]> {
  const node = c.inv.nodes.find((n) => n.name === u.node)!
  const obs = await observeNode(c, node)
  const problems: string[] = []
  if (obs.error) return [`${u.node} does not answer: ${obs.error}`]
  if (obs.version !== u.to.version) problems.push(`runs Talos ${obs.version}, wanted ${u.to.version}`)
  if (u.to.schematic && obs.schematic !== u.to.schematic)
    problems.push(`runs schematic ${obs.schematic ?? '(none)'}, wanted ${u.to.schematic}`)
  const missing = missingKernelArgs(obs.cmdline ?? '', u.to.kernelArgs)
  if (missing.length) problems.push(`/proc/cmdline lacks ${missing.join(' ')}`)
  const pools = node.profile === 'validator' ? (c.inv.validator?.hugepages ?? []) : []
  for (const p of pools)
    for (const [i, want] of p.perNumaNode.entries()) {
      const path = `/sys/devices/system/node/node${i}/hugepages/hugepages-${hugepageKiB(p.size)}kB/nr_hugepages`
      const seen = Number((await c.talos.read(u.address, path)).trim())
      if (seen !== want) problems.push(`NUMA node ${i} has ${seen} ${p.size} pages, wanted ${want}`)
    }
  return problems
}

/** verifyNode, once the node runs a boot other than `bootBefore`'s. */
async function rebootedAndVerified(c: Cluster, u: NodeUpgrade, bootBefore: string): Promise<string[]> {
  if ((await c.talos.bootId(u.address)) === bootBefore) return [`${u.node} has not rebooted yet (same boot_id)`]
  return verifyNode(c, u)
}

async function kubeProblems(c: Cluster, u: NodeUpgrade): Promise<string[]> {
  const k = await c.kube.node(u.node)
  if (!k || !isReady(k)) return [`${u.node} is not Ready in Kubernetes`]
  const pools = u.kind === 'validator' ? (c.inv.validator?.hugepages ?? []) : []
  return pools.flatMap((p) => {
    const want = p.perNumaNode.reduce((a, b) => a + b, 0) * hugepageBytes(p.size)
    const seen = k.status?.allocatable?.[hugepageResource(p.size)]
    return seen !== undefined && quantityValue(seen) === want
      ? []
      : [`kubelet advertises ${hugepageResource(p.size)} ${seen ?? 'none'}, wanted ${hugepageQuantity(want)}`]
  })
}

/**
 * What to tell the operator when a node failed its checks after the upgrade. A node back on its old version fell back
 * by itself (Talos boots the previous image when the new one does not boot, upgrading-talos.md): `talosctl rollback`
 * would boot the image that failed, so it is not offered then. A node on the new version that misbehaves is offered it.
 */
export function regressionMessage(
  u: NodeUpgrade,
  problems: string[],
  running: string | undefined,
  where: { talosconfig: string; inventoryFile: string },
): string {
  const resume = `npx zx runbooks/09-upgrade.ts --inventory ${where.inventoryFile}`
  const head = `${u.node} after its upgrade: ${problems.join('; ')}. The rollout stopped here; other nodes were left alone.`
  if (running === u.from.version && running !== u.to.version) {
    return `${head} ${u.node} runs ${u.from.version} again: its new image did not boot and Talos fell back to the previous one. Find why (talosctl -n ${u.address} dmesg), fix it, then resume: ${resume}`
  }
  return `${head} To roll ${u.node} back to ${u.from.version}: talosctl --talosconfig ${where.talosconfig} -n ${u.address} rollback; or fix the cause and resume: ${resume}`
}

export async function upgradeNode(
  c: Cluster,
  u: NodeUpgrade,
  t: UpgradeTimeouts,
  progress: (s: string) => void,
): Promise<NodeTimeline> {
  if (u.kind === 'controlplane') {
    progress(`${u.node}: etcd health`)
    await assertEtcdHealthy(c)
    progress(`${u.node}: etcd snapshot`)
    log.info(`  etcd snapshot: ${await snapshotEtcd(c, u)}`)
    await c.kube.waitForReady(30_000)
  } else {
    progress(`${u.node}: cordon and drain`)
    await cordonAndDrain(c, u.node, t.drainMs)
  }
  progress(`${u.node}: talosctl upgrade`)
  // the node counts as back only from a new boot: the upgrade runs after machined answered the call, so until the
  // node goes down it still answers, and could pass the checks, on the boot it is about to leave
  const bootBefore = await c.talos.bootId(u.address)
  const probes = u.kind === 'controlplane' ? startProbes(c) : undefined
  const t0 = Date.now()
  try {
    await c.talos.upgrade(u.address, u.to.image, { timeoutMs: t.upgradeCallMs })
  } catch (e) {
    await probes?.stop()
    // machined refused before changing anything (a missing image, etcd not healthy): the node keeps running
    if (u.kind !== 'controlplane') await c.kube.run(['uncordon', u.node], { mutating: true }).catch(() => undefined)
    throw new Error(
      `${u.node}: talosctl upgrade refused, the node was not changed: ${(e as Error).message.split('\n')[0]}. Fix the cause, then resume: npx zx runbooks/09-upgrade.ts --inventory ${c.inventoryFile}`,
      { cause: e },
    )
  }
  let problems: string[] = []
  try {
    const bound = `up to ${Math.round(t.backMs / 60_000)} min, --node-timeout`
    progress(`${u.node}: waiting for ${u.to.version} (${bound})`)
    await waitFor(
      `${u.node} back on ${u.to.version}`,
      async () => {
        // the spinner says what is still missing, so a long wait shows what it waits for
        const left = await rebootedAndVerified(c, u, bootBefore).catch((e: Error) => [
          `not answering (${e.message.split('\n')[0]})`,
        ])
        if (left.length) progress(`${u.node}: waiting (${bound}): ${left.join('; ')}`)
        return left.length ? undefined : true
      },
      { timeoutMs: t.backMs, intervalMs: 1000 },
    )
  } catch (e) {
    problems = await rebootedAndVerified(c, u, bootBefore).catch(() => [(e as Error).message])
    if (!problems.length) problems = [(e as Error).message]
  }
  const back = Date.now()
  if (!problems.length && u.kind === 'controlplane') {
    await waitFor('etcd healthy again', async () => (await assertEtcdHealthy(c), true), {
      timeoutMs: t.backMs,
      intervalMs: 1000,
    }).catch((e: Error) => problems.push(e.message))
  }
  const summary = await probes?.stop()
  if (!problems.length) {
    progress(`${u.node}: Ready?`)
    await waitFor(`${u.node} Ready`, async () => ((await kubeProblems(c, u)).length ? undefined : true), {
      timeoutMs: t.backMs,
      intervalMs: 1000,
    }).catch(async () => problems.push(...(await kubeProblems(c, u))))
  }
  if (problems.length) {
    const running = (
      await observeNode(
        c,
        c.inv.nodes.find((n) => n.name === u.node)!,
      )
    ).version
    throw new NodeRegression(
      regressionMessage(u, problems, running, { talosconfig: c.paths.talosconfig, inventoryFile: c.inventoryFile }),
    )
  }
  if (u.kind !== 'controlplane') await c.kube.run(['uncordon', u.node], { mutating: true })
  const iso = (ms: number) => new Date(ms).toISOString()
  return {
    node: u.node,
    kind: u.kind,
    down: iso(t0),
    back: iso(back),
    downtimeMs: back - t0,
    ...(summary ? { probes: summary } : {}),
  }
}
