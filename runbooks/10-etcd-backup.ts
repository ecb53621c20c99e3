// 10-etcd-backup: stream an etcd snapshot from a healthy control-plane member into <outputDir>/backups (0600 files,
// 0700 directory), verify it (sha256 trailer + `etcdutl snapshot status`), index it (index.json: revision, hash,
// size, member, time) and keep the --keep newest. checks/etcd.ts warns when the newest one is too old.
import { runbook } from '../lib/runner/runner.ts'
import { UsageError } from '../lib/runner/flags.ts'
import { openCluster, controlPlanes } from '../config/cluster.ts'
import type { InventoryNode } from '../config/inventory.ts'
import { backupsDir, pickMember, snapshotStep } from '../steps/etcd-backup.ts'
import { DEFAULT_KEEP, retentionStep } from '../steps/10-etcd-backup/steps.ts'

await runbook({
  id: '10-etcd-backup',
  title: 'Take, verify and index an etcd snapshot; keep the newest N',
  flags: {
    keep: {
      type: 'string',
      valueName: 'N',
      default: String(DEFAULT_KEEP),
      description: 'how many snapshots to keep (older ones are deleted)',
    },
    node: {
      type: 'string',
      valueName: 'NAME',
      description: 'the control-plane node to stream the snapshot from (default: the first healthy member)',
    },
  },
  context(flags) {
    const keep = Number(flags.keep)
    if (!Number.isInteger(keep) || keep < 1)
      throw new UsageError(`flag --keep for 10-etcd-backup: ${JSON.stringify(flags.keep)} must be a whole number >= 1`)
    const cluster = openCluster(flags.inventory, flags)
    const cps = controlPlanes(cluster.inv)
    if (flags.node !== undefined && !cps.some((n) => n.name === flags.node))
      throw new UsageError(
        `flag --node for 10-etcd-backup: ${flags.node} is not a control-plane node of ${flags.inventory} (control planes: ${cps.map((n) => n.name).join(', ')})`,
      )
    return { ...cluster, keep, wantedNode: flags.node ?? undefined, member: undefined as InventoryNode | undefined }
  },
  steps: [
    {
      name: 'pick-member',
      describe: 'the first control plane whose etcd answers without errors (or --node)',
      detail: (c) =>
        c.wantedNode ??
        controlPlanes(c.inv)
          .map((n) => n.name)
          .join(', '),
      targets: (c) => (c.wantedNode ? [c.wantedNode] : controlPlanes(c.inv).map((n) => n.name)),
      async run(c) {
        c.member = await pickMember(c, c.wantedNode)
        return { member: c.member.name }
      },
    },
    {
      name: 'snapshot',
      describe: 'talosctl etcd snapshot into <outputDir>/backups, verify it, add it to index.json',
      detail: (c) => backupsDir(c.paths.outDir),
      targets: (c) => (c.member ? [c.member.name] : []),
      async run(c) {
        c.member ??= await pickMember(c, c.wantedNode) // resumed at this step
        return snapshotStep(c, c.member)
      },
    },
    {
      name: 'retention',
      describe: 'keep the --keep newest snapshots, delete the others',
      detail: (c) => `--keep ${c.keep} in ${backupsDir(c.paths.outDir)}`,
      async run(c) {
        return retentionStep(c, c.keep, c.dryRun)
      },
    },
  ],
})
