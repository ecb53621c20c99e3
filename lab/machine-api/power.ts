// machined's power methods for a lab machine (v1.10.3 internal/app/machined/internal/server/v1alpha1/
// v1alpha1_server.go): Reboot, Shutdown, Reset and Upgrade answer with an actor id and run their sequence in the
// background (lab/machine-sequences.ts), so the machine goes down AFTER the answer; Upgrade first pulls the installer
// image (lab/registry.ts: as long as the simulated pull takes) and, on a control plane, takes etcd's upgrade lock;
// Rollback reverts the bootloader, then reboots. Events serves the machine's event buffer (lab/machine-events.ts).
// lab/talos-api/power.go validates what machined checks against the machine's resources (Reset's volumes).
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { revertInstallation } from '../installation.ts'
import { isXid, readEvents, toMachineEvent, xidTime } from '../machine-events.ts'
import {
  controlPlaneEtcd,
  rebootSequence,
  resetSequence,
  shutdownSequence,
  stageUpgradeSequence,
  startSequence,
  upgradeSequence,
} from '../machine-sequences.ts'
import { tryLockUpgradeMutex, validateForUpgrade } from '../etcd-upgrade-lock.ts'
import { pullInstallerImage } from '../registry.ts'
import { paths, type LabNode } from '../state.ts'
import { ModelError } from './errors.ts'

/** Reboot (v1alpha1_server.go:339-367): mode POWERCYCLE skips kexec. */
export function Reboot(n: LabNode, req: { mode?: string }): unknown {
  const actorId = randomUUID()
  startSequence(n.name, 'reboot', actorId, rebootSequence(n.name, req.mode === 'POWERCYCLE'))
  return { messages: [{ actorId }] }
}

/** Shutdown (v1alpha1_server.go:449-477): force skips the drain. */
export function Shutdown(n: LabNode, req: { force?: boolean }): unknown {
  const actorId = randomUUID()
  startSequence(n.name, 'shutdown', actorId, shutdownSequence(n.name, req.force === true))
  return { messages: [{ actorId }] }
}

interface ResetRequest {
  graceful?: boolean
  reboot?: boolean
  mode?: string
  userDisksToWipe?: string[]
  systemPartitionsToWipe?: { label?: string; wipe?: boolean }[]
}

/**
 * Reset (v1alpha1_server.go:603-700), the request already checked against the machine's volumes by talos-api. The
 * lab models one wipe: EPHEMERAL alone (the disaster-recovery reset); anything else is refused as the lab's, not
 * Talos's, limit, before anything is acknowledged.
 */
export function Reset(n: LabNode, req: ResetRequest): unknown {
  const wiped = (req.systemPartitionsToWipe ?? []).filter((p) => p.wipe).map((p) => p.label)
  if ((req.userDisksToWipe ?? []).length || wiped.length !== 1 || wiped[0] !== 'EPHEMERAL')
    throw new ModelError(
      'Unimplemented',
      'the lab simulates only the reset that wipes EPHEMERAL alone (system_partitions_to_wipe EPHEMERAL, no user disks)',
    )
  const actorId = randomUUID()
  const opts = { graceful: req.graceful === true, reboot: req.reboot === true }
  startSequence(n.name, 'reset', actorId, resetSequence(n.name, opts))
  return { messages: [{ actorId }] }
}

interface UpgradeRequest {
  image?: string
  stage?: boolean
  force?: boolean
  rebootMode?: string
}

/**
 * Upgrade (v1alpha1_server.go:482-571): pull and validate the installer image, then on a control plane (unless
 * forced) hold etcd's upgrade mutex while validating etcd; only then the actor id, and the upgrade (or the staged
 * upgrade's reboot) runs in the background.
 */
export async function Upgrade(n: LabNode, req: UpgradeRequest): Promise<unknown> {
  const actorId = randomUUID()
  const image = req.image ?? ''
  try {
    await pullInstallerImage(n.name, image)
  } catch (e) {
    throw new ModelError('Unknown', `error validating installer image "${image}": ${(e as Error).message}`)
  }
  if (n.role === 'controlplane' && !req.force) await checkEtcdForUpgrade()
  const powerCycle = req.rebootMode === 'POWERCYCLE'
  if (req.stage) startSequence(n.name, 'stageUpgrade', actorId, stageUpgradeSequence(n.name, image, powerCycle))
  else startSequence(n.name, 'upgrade', actorId, upgradeSequence(n.name, image, powerCycle))
  return { messages: [{ ack: 'Upgrade request received', actorId }] }
}

async function checkEtcdForUpgrade(): Promise<void> {
  const fail = (what: string, e: unknown) => new ModelError('Unknown', `${what}: ${(e as Error).message}`)
  let client
  try {
    client = await controlPlaneEtcd()
  } catch (e) {
    throw fail('failed to create etcd client', e)
  }
  let unlock
  try {
    unlock = await tryLockUpgradeMutex(client)
  } catch (e) {
    throw fail('failed to acquire upgrade mutex', e)
  }
  try {
    await validateForUpgrade(client)
  } catch (e) {
    throw fail('error validating etcd for upgrade', e)
  } finally {
    await unlock()
  }
}

/** Rollback (v1alpha1_server.go:370-410): the bootloader's Revert, then a reboot (no actor id). */
export function Rollback(n: LabNode): unknown {
  try {
    revertInstallation(n.name)
  } catch (e) {
    throw new ModelError('Unknown', (e as Error).message)
  }
  startSequence(n.name, 'reboot', '', rebootSequence(n.name, false))
  return { messages: [{}] }
}

interface EventsRequest {
  /** talos-api's position in this boot's buffer, after the first call. */
  after?: number
  boot?: string
  tailEvents?: number
  tailId?: string
  tailSeconds?: number
  withActorId?: string
}

const bootId = (n: LabNode) => {
  const f = join(paths.root(n.name), 'proc/sys/kernel/random/boot_id')
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : ''
}

/**
 * The buffer from where a watch starts (v1alpha1_events.go Watch): tail_events back from the end (-1: all), after
 * tail_id, or from tail_seconds ago; otherwise only what comes next. Later calls continue at `after` in the same
 * boot; a new boot is a new machined, so the watch ends (`gone`).
 */
export function Events(n: LabNode, req: EventsRequest): unknown {
  const boot = bootId(n)
  const all = readEvents(n.name)
  let pos = all.length
  if (req.after !== undefined) {
    if (req.boot !== boot || req.after > all.length) return { boot, gone: true, next: 0, events: [] }
    pos = req.after
  } else if (req.tailEvents) {
    pos = req.tailEvents < 0 ? 0 : Math.max(0, all.length - req.tailEvents)
  } else if (req.tailId) {
    if (!isXid(req.tailId)) throw new ModelError('Unknown', 'error parsing tail_id: xid: invalid ID')
    const i = all.findIndex((e) => e.id > req.tailId!)
    pos = i < 0 ? all.length : i
  } else if (req.tailSeconds) {
    const since = Date.now() / 1000 - req.tailSeconds
    const i = all.findIndex((e) => xidTime(e.id) > since)
    pos = i < 0 ? all.length : i
  }
  const events = all.slice(pos).filter((e) => !req.withActorId || e.actorId === req.withActorId)
  return { boot, gone: false, next: all.length, events: events.map(toMachineEvent) }
}
