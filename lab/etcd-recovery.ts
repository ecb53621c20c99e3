// etcd disaster recovery in the lab, as Talos v1.10.3 does it (website/content/v1.10/advanced/disaster-recovery.md):
// the `etcd-data-loss` fault destroys a member's data, `talosctl reset --system-labels-to-wipe EPHEMERAL` wipes
// /var/lib/etcd, and `talosctl bootstrap --recover-from` restores a REAL data dir from the uploaded snapshot with
// etcd's own restore (Debian bookworm's etcd-client 3.4 has `etcdctl snapshot restore`; Talos links etcdutl's
// snapshot manager, internal/app/machined/pkg/system/services/etcd.go recoverFromSnapshot).
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { labBinary } from './tools.ts'
import { etcdPeerUrl, startEtcd, stopEtcd } from './node-services.ts'
import { forgetProcess, isAlive } from './processes.ts'
import { loadNode, paths, updateNode } from './state.ts'

const ETCDCTL = labBinary('etcdctl', '/usr/bin/etcdctl')
const exec = promisify(execFile)

/** Where EtcdRecover stores the upload: constants.EtcdRecoverySnapshotPath = "/var/lib/etcd.snapshot" (on EPHEMERAL). */
export const recoverySnapshotPath = (name: string) => join(paths.nodeDir(name), 'etcd.snapshot')

export interface SnapshotInfo {
  hash: number
  revision: number
  totalKey: number
  totalSize: number
}

async function etcdctl(args: string[]): Promise<string> {
  try {
    return (await exec(ETCDCTL, args, { env: { ...process.env, ETCDCTL_API: '3' } })).stdout
  } catch (e) {
    const err = e as { stderr?: string; message: string }
    const line = (err.stderr ?? '').trim().split('\n').filter(Boolean).pop()
    throw new Error(line ? line.replace(/^Error:\s*/, '') : err.message)
  }
}

/** bbolt's view of a snapshot file (`manager.Status`: no integrity check, that is Restore's job). */
export async function snapshotInfo(file: string): Promise<SnapshotInfo> {
  return JSON.parse(await etcdctl(['snapshot', 'status', '-w', 'json', file])) as SnapshotInfo
}

/**
 * The fault: the member's data is destroyed (its bbolt file zeroed, its WAL gone), as a dead disk region or a bad
 * upgrade leaves it. Real etcd exits at start on such a data dir and Talos restarts it forever; the dir is not
 * empty, so Talos will neither bootstrap nor join over it until EPHEMERAL is wiped.
 */
export async function destroyEtcdData(name: string): Promise<string[]> {
  const done: string[] = []
  updateNode(name, (n) => (n.faults.etcdDataLoss = true))
  const n = loadNode(name)
  if (isAlive(n.etcd.pid)) {
    process.kill(n.etcd.pid!, 'SIGKILL')
    while (isAlive(n.etcd.pid)) await new Promise((r) => setTimeout(r, 10))
    forgetProcess('etcd', name)
    updateNode(name, (x) => delete x.etcd.pid)
    done.push(`${name}: killed etcd (SIGKILL, pid ${n.etcd.pid})`)
  }
  const member = join(paths.etcdData(name), 'member')
  const db = join(member, 'snap', 'db')
  if (existsSync(db)) {
    // zero pages: bbolt's "invalid database" when etcd opens it
    truncateSync(db, 0)
    truncateSync(db, 4096)
  }
  rmSync(join(member, 'wal'), { recursive: true, force: true })
  done.push(
    `${name}: etcd data destroyed (${db} zeroed, WAL removed); etcd there crash-loops and never comes back by itself: ` +
      `recover with npx zx runbooks/11-etcd-recover.ts (talosctl reset --system-labels-to-wipe EPHEMERAL, bootstrap --recover-from)`,
  )
  return done
}

/**
 * What wiping EPHEMERAL does to a control plane's etcd: /var/lib/etcd and the uploaded recovery snapshot are gone,
 * and so is the data-loss fault (the destroyed data with them). The member id is forgotten: after the reboot etcd
 * waits in Preparing to be bootstrapped or to join (services/etcd.go argsForControlPlane, empty data dir).
 */
export async function wipeEtcdData(name: string): Promise<void> {
  await stopEtcd(name)
  rmSync(paths.etcdData(name), { recursive: true, force: true })
  rmSync(recoverySnapshotPath(name), { force: true })
  updateNode(name, (x) => {
    delete x.etcd.memberId
    delete x.etcd.recoverError
    delete x.faults.etcdDataLoss
  })
}

/**
 * BootstrapEtcd with RecoverEtcd: the etcd service's pre-stage restores the uploaded snapshot into the empty data dir
 * as a single-member cluster of this node (its name and peer URL), then starts etcd on it. Like on Talos this runs
 * after the Bootstrap API call has returned: a restore that fails (a copied `db` without --recover-skip-hash-check)
 * leaves etcd Failed with the error (`talosctl service etcd`). etcdutl's Restore creates member/snap and copies the
 * db into the data dir BEFORE it checks the hash (etcdutl/v3@v3.5.21/snapshot/v3_snapshot.go:414-428, then :442 and
 * :457), so a hash failure leaves /var/lib/etcd NOT empty, and a retried bootstrap is refused with AlreadyExists
 * "etcd data directory is not empty" (v1alpha1_server.go:431-432) until EPHEMERAL is wiped. etcdctl 3.4's restore
 * does the same in the lab's temporary dir; what it left there is moved into the data dir, as on Talos. A snapshot
 * that fails manager.Status (services/etcd.go:548-551) writes nothing.
 */
export async function recoverEtcd(name: string, skipHashCheck: boolean): Promise<void> {
  const n = loadNode(name)
  const snap = recoverySnapshotPath(name)
  updateNode(name, (x) => delete x.etcd.recoverError)
  // etcdctl 3.4 refuses an existing --data-dir: restore beside it, then move the member dir in
  const tmp = mkdtempSync(join(paths.nodeDir(name), 'etcd-restore-'))
  const out = join(tmp, 'data')
  try {
    await snapshotInfo(snap).catch((e: Error) => {
      throw new Error(`error verifying snapshot: ${e.message}`)
    })
    await etcdctl([
      'snapshot',
      'restore',
      snap,
      '--name',
      name,
      '--data-dir',
      out,
      '--initial-cluster',
      `${name}=${etcdPeerUrl(n)}`,
      '--initial-advertise-peer-urls',
      etcdPeerUrl(n),
      ...(skipHashCheck ? ['--skip-hash-check'] : []),
    ]).catch((e: Error) => {
      // what the restore wrote before it failed stays in the data dir, as etcdutl leaves it on Talos
      if (existsSync(out) && readdirSync(out).length > 0) {
        rmSync(paths.etcdData(name), { recursive: true, force: true })
        renameSync(out, paths.etcdData(name))
      }
      throw new Error(`error recovering from the snapshot: ${e.message}`)
    })
    const dir = paths.etcdData(name)
    rmSync(dir, { recursive: true, force: true })
    renameSync(out, dir)
    rmSync(snap, { force: true })
  } catch (e) {
    updateNode(name, (x) => (x.etcd.recoverError = (e as Error).message))
    return
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  await startEtcd(name, 'new')
}
