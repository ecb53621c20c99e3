// 11-etcd-recover's reads: what every control plane says about its etcd (service state, and `etcd status` from the
// members that still answer it), and the snapshot to restore: --snapshot FILE or the newest verified one of the
// 10-etcd-backup index, checked again now (its sha256 trailer and bbolt's status).
import { existsSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import { log } from '../../lib/runner/log.ts'
import { RefusedError } from '../../lib/runner/runner.ts'
import { backupsDir, readBackupIndex, type BackupEntry } from '../../lib/talos/etcd-backups.ts'
import { etcdView } from '../etcd-view.ts'
import { nodeTalosctl } from '../live-probes.ts'
import { verifySnapshotFile } from '../etcd-backup.ts'
import type { NodeEtcd } from './judge.ts'

const firstLine = (s: string) => s.trim().split('\n')[0]!.slice(0, 240)

/** Every control plane's etcd as judgeRecovery needs it, in inventory order. */
export async function readNodes(c: Cluster, timeoutMs: number): Promise<NodeEtcd[]> {
  const v = await etcdView(c)
  return Promise.all(
    controlPlanes(c.inv).map(async (n): Promise<NodeEtcd> => {
      const svc = v.service[n.name]
      const out: NodeEtcd = { name: n.name, address: n.address }
      if (v.unreachable[n.name] !== undefined) out.unreachable = firstLine(v.unreachable[n.name]!)
      if (v.maintenance?.[n.name]) out.maintenance = true
      if (svc) {
        out.state = svc.state
        out.lastEvent = svc.events?.[0]?.message ?? svc.lastEvent
      }
      // Preparing is also what a node with data shows while etcd's pre stage pulls the image or waits for the PKI: look
      if (svc?.state === 'Preparing') {
        try {
          out.dataDir = await nodeTalosctl(c, n, timeoutMs).lsNames(n.address, '/var/lib/etcd')
        } catch {
          // unread: judged by the service state alone
        }
      }
      if (svc?.state === 'Running') {
        try {
          const [row] = await nodeTalosctl(c, n, timeoutMs).etcdStatus([n.address])
          if (row)
            out.status = {
              memberId: row.memberId,
              leader: row.leader,
              learner: row.learner,
              errors: row.errors,
              raftIndex: row.raftIndex,
            }
        } catch {
          // a member without quorum may not answer status at all: it counts as no leader
        }
      }
      return out
    }),
  )
}

export interface PickedSnapshot {
  /** Absolute path. */
  file: string
  takenAt: Date
  revision: number
  hash: string
  totalKeys: number
  size: number
  /** Its backup index entry, when it has one. */
  entry?: BackupEntry
}

const HOW_TO_VERIFY =
  'Only a snapshot whose sha256 trailer and bbolt status check out is restored: take one with npx zx runbooks/10-etcd-backup.ts ' +
  '(it verifies and indexes it), or check a file with `etcdctl snapshot status FILE` (etcdutl on etcd ≥ 3.5). ' +
  'A db file copied out of a data dir has no sha256: restore it by hand with talosctl bootstrap --recover-from FILE --recover-skip-hash-check.'

/** --snapshot FILE: refused (exit 3) unless it is there and verifies. */
export async function explicitSnapshot(outDir: string, file: string): Promise<PickedSnapshot> {
  const abs = resolve(file)
  if (!existsSync(abs) || !statSync(abs).isFile())
    throw new RefusedError(`--snapshot ${file}: no such file. ${HOW_TO_VERIFY} Nothing was changed.`)
  let st
  try {
    st = await verifySnapshotFile(abs)
  } catch (e) {
    throw new RefusedError(
      `--snapshot ${file} is not a verified etcd snapshot: ${firstLine((e as Error).message)}. ${HOW_TO_VERIFY} Nothing was changed.`,
    )
  }
  const entry =
    resolve(join(backupsDir(outDir), basename(abs))) === abs
      ? readBackupIndex(outDir).find((e) => e.file === basename(abs))
      : undefined
  return {
    file: abs,
    takenAt: entry ? new Date(entry.takenAt) : statSync(abs).mtime,
    revision: st.revision,
    hash: st.hash,
    totalKeys: st.totalKeys,
    size: statSync(abs).size,
    entry,
  }
}

/** The newest snapshot of the index that is still on disk and still verifies; refused (exit 3) when none does. */
export async function newestVerifiedSnapshot(outDir: string): Promise<PickedSnapshot> {
  const dir = backupsDir(outDir)
  const entries = [...readBackupIndex(outDir)].sort((a, b) => Date.parse(b.takenAt) - Date.parse(a.takenAt))
  const passed: string[] = []
  for (const e of entries) {
    const file = join(dir, e.file)
    if (!existsSync(file)) {
      passed.push(`${e.file}: missing`)
      continue
    }
    try {
      const st = await verifySnapshotFile(file)
      for (const p of passed) log.warn(`  passed over ${p}`)
      return {
        file,
        takenAt: new Date(e.takenAt),
        revision: st.revision,
        hash: st.hash,
        totalKeys: st.totalKeys,
        size: statSync(file).size,
        entry: e,
      }
    } catch (err) {
      passed.push(`${e.file}: ${firstLine((err as Error).message)}`)
    }
  }
  throw new RefusedError(
    `no verified etcd snapshot to restore in ${dir}${passed.length ? ` (${passed.join('; ')})` : ' (its index lists none)'}. ` +
      `Pass one with --snapshot FILE. ${HOW_TO_VERIFY} Nothing was changed.`,
  )
}
