// 05-storage-tuning: the validator's ledger/accounts volumes, its labels and NoSchedule taint, and
// kubelet's reservations, each read back from the node.
import { runbook } from '../lib/runner/runner.ts'
import { quorumStep } from '../steps/quorum.ts'
import { openCluster, validatorNode } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import {
  missingLabels,
  missingTaints,
  quantityBytes,
  readMounts,
  reservationProblems,
  storageProblems,
  ownershipNow,
  permissionsPodManifest,
} from '../steps/05-storage-tuning/steps.ts'
import { waitFor } from '../lib/kube/kubectl.ts'
import { readVolumeDiskFacts, volumeDiskProblems } from '../steps/05-storage-tuning/volume-disks.ts'
import { describeVolumeDisk } from '../config/volume-disk.ts'
import { storageDataDir } from '../config/volume-data-dir.ts'

await runbook({
  id: '05-storage-tuning',
  title: 'Validator storage, isolation and kubelet tuning',
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    const node = validatorNode(cluster.inv)
    if (!node || !cluster.inv.validator) throw new Error(`${flags.inventory} has no node with profile: validator`)
    return { ...cluster, cluster: cluster.inv.cluster, node, profile: cluster.inv.validator }
  },
  steps: [
    quorumStep({ requireBootstrapped: true }),
    {
      name: 'volume-disks',
      describe: 'check each volume is on the disk the inventory names; explain a disk Talos refuses and how to wipe it',
      targets: (c) => [c.node.name],
      async run(c) {
        const storage = c.profile.storage ?? []
        const facts = await readVolumeDiskFacts(c, c.node)
        const problems = volumeDiskProblems(storage, facts, {
          node: c.node,
          talosconfig: c.paths.talosconfig,
          inventoryFile: c.inventoryFile,
        })
        if (problems.length) throw new Error(problems.join('\n  '))
        for (const s of storage) {
          const st = facts.statuses.find((v) => v.metadata.id === `u-${s.name}`)
          log.info(`  ${s.name}: ${st?.spec.location} on ${st?.spec.parentLocation} (${describeVolumeDisk(s.disk)})`)
        }
      },
    },
    {
      name: 'volumes',
      describe: 'read back the ledger/accounts mounts',
      targets: (c) => [c.node.name],
      async run(c) {
        const mounts = await readMounts(c, c.node)
        const problems = storageProblems(c.profile.storage ?? [], mounts)
        if (problems.length) throw new Error(problems.join('; '))
        for (const s of c.profile.storage ?? []) log.info(`  ${s.name}: ${s.mountPoint} (${s.filesystem}) mounted`)
      },
    },
    {
      name: 'permissions',
      // The data directory, not the mount root: Talos resets the root to root:root 0755 at every mount
      // (steps/05-storage-tuning/steps.ts permissionsPodManifest says where in its source).
      describe: "create each volume's data directory and set its owner/mode with a one-shot pod, read back",
      detail: (c) =>
        (c.profile.storage ?? [])
          .map((s) => `${storageDataDir(s)} → ${s.owner.uid}:${s.owner.gid} ${s.mode}`)
          .join(', '),
      destructive: true,
      confirm: (c) =>
        `Run a privileged one-shot pod on ${c.node.name} to create and chown/chmod ${(c.profile.storage ?? []).map((s) => storageDataDir(s)).join(', ')}?`,
      targets: (c) => [c.node.name],
      async check(c) {
        const problems = await ownershipNow(c, c.node, c.profile.storage ?? [])
        return problems.length === 0
          ? { done: true, reason: 'data directories exist with the owner and mode the inventory says' }
          : { done: false, reason: problems.join('; ') }
      },
      async run(c, step) {
        for (const p of await ownershipNow(c, c.node, c.profile.storage ?? [])) log.info(`  ${p}`)
        const pod = permissionsPodManifest(c.node.name, c.profile.storage ?? [], c.profile.taints ?? [])
        const name = (pod.metadata as { name: string }).name
        await c.kube.delete('pod', name, 'kube-system')
        await c.kube.apply(pod)
        if (step.dryRun) return
        try {
          const done = await waitFor(
            `pod ${name} to finish`,
            async () => {
              const p = (
                await c.kube.getJson<{
                  status?: { phase?: string; containerStatuses?: { state?: { terminated?: { message?: string } } }[] }
                }>(['get', 'pod', name, '-n', 'kube-system'])
              ).status
              return p?.phase === 'Succeeded' || p?.phase === 'Failed' ? p : undefined
            },
            { timeoutMs: 5 * 60_000, intervalMs: 1000 },
          )
          if (done.phase === 'Failed')
            throw new Error(
              `pod ${name} failed: ${done.containerStatuses?.[0]?.state?.terminated?.message ?? 'see kubectl logs'}`,
            )
        } finally {
          await c.kube.delete('pod', name, 'kube-system')
        }
        const left = await ownershipNow(c, c.node, c.profile.storage ?? [])
        if (left.length) throw new Error(`read back after the pod ran: ${left.join('; ')}`)
        log.ok(
          `${(c.profile.storage ?? []).map((s) => storageDataDir(s)).join(', ')}: owner and mode read back as the inventory says`,
        )
      },
    },
    {
      name: 'labels',
      describe: 'label the validator',
      targets: (c) => [c.node.name],
      async check(c) {
        const k = await c.kube.node(c.node.name)
        if (!k) throw new Error(`${c.node.name} is not a Kubernetes node: run 04-join first`)
        const missing = missingLabels(k, c.profile.labels ?? {})
        return Object.keys(missing).length ? { done: false } : { done: true, reason: 'labels already set' }
      },
      async run(c) {
        const k = (await c.kube.node(c.node.name))!
        await c.kube.label(c.node.name, missingLabels(k, c.profile.labels ?? {}))
      },
    },
    {
      name: 'taint',
      describe: 'taint the validator NoSchedule',
      destructive: true,
      confirm: (c) => `Taint ${c.node.name}? Pods without the toleration will no longer be scheduled on it.`,
      targets: (c) => [c.node.name],
      async check(c) {
        const k = await c.kube.node(c.node.name)
        return k && missingTaints(k, c.profile.taints ?? []).length === 0
          ? { done: true, reason: 'taints already set' }
          : { done: false }
      },
      async run(c) {
        const k = (await c.kube.node(c.node.name))!
        for (const t of missingTaints(k, c.profile.taints ?? [])) await c.kube.taint(c.node.name, t)
      },
    },
    {
      name: 'kubelet-reservations',
      describe: "read back kubelet's memory reservations",
      targets: (c) => [c.node.name],
      async run(c) {
        const k = await c.kube.node(c.node.name)
        if (!k) throw new Error(`${c.node.name} is not a Kubernetes node`)
        const p = c.profile
        const want =
          quantityBytes(p.systemReserved?.memory) +
          quantityBytes(p.kubeReserved?.memory) +
          quantityBytes(p.evictionHard?.['memory.available'])
        const problems = reservationProblems(k, want)
        if (problems.length) throw new Error(problems.join('; '))
      },
    },
  ],
})
