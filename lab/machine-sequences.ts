// machined's sequences on a lab machine (v1.10.3 internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer.go
// Reboot, Shutdown, Reset, Upgrade, StageUpgrade), run in the background after the API call has answered, as
// machined runs them (`go func() { s.Controller.Run(...) }()` in v1alpha1_server.go Reboot/Shutdown/Reset/Upgrade).
// Each publishes the controller's events (v1alpha1_controller.go run/runPhase/runTask: sequence, phase and task
// START/STOP, and a NOOP with the error when it fails) into the machine's event buffer (lab/machine-events.ts).
// The machine's API keeps answering until the stopAllServices task stops apid; then its stage turns 'rebooting' or
// 'shutting down', lab/talos-api closes the listener, and only then does the sequence go on. A sequence that fails
// is fatal to machined: the machine reboots after a countdown (fatalSequenceError). Tasks the lab has nothing for
// (dbus, unmounts, drain: the lab does not model pods) pass at once.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { EtcdClient, EtcdError } from './etcd-client.ts'
import { wipeEtcdData } from './etcd-recovery.ts'
import { installUpgrade } from './installation.ts'
import { wipeEphemeralKubeletState } from './kubelet.ts'
import { publishEvent } from './machine-events.ts'
import { bootNode } from './machine-power.ts'
import { etcdClient, stopEtcd, stopKubeApi } from './node-services.ts'
import { isAlive, portOpen } from './processes.ts'
import { loadNode, loadNodes, paths, updateNode, type LabNode } from './state.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * How long a machine is gone while it reboots (the lab's numbers; real servers POST for minutes): kexec jumps
 * straight into the new kernel, a power cycle goes through the firmware.
 */
export const DOWN_MS = { kexec: 2000, firmware: 5000 }

/** Time for a published event to reach the watchers (lab/talos-api polls the buffer every 100 ms) before apid stops. */
const EVENT_FLUSH_MS = 400

/** The machine's Talos API (apid), which lab/talos-api serves on each machine's address while its stage allows. */
const APID_PORT = 50000

/** How long apid may take to go once the stage says it stopped (lab/talos-api looks at the stages every 100 ms). */
const APID_STOP_MS = 5000

/** machined's countdown before it reboots on a fatal error (v1.10.3 internal/app/machined/main.go:124-129). */
export const FATAL_REBOOT_COUNTDOWN_MS = 10_000

interface Task {
  name: string
  run: () => Promise<void> | void
}

interface Phase {
  name: string
  tasks: Task[]
  /** taskErrorHandler(logError, ...) / phaseListErrorHandler: a failure is logged and the sequence goes on. */
  tolerant?: boolean
  /** The machine goes down in it: nothing after it is published in this boot. */
  final?: boolean
}

const phase = (name: string, task: string, run: Task['run'] = () => {}, more: Partial<Phase> = {}): Phase => ({
  name,
  tasks: [{ name: task, run }],
  ...more,
})

/** A task that ends the boot: publish, let watchers see it, then the machine goes down. */
function stopAllServices(name: string, stage: 'rebooting' | 'shutting down'): Phase {
  return phase('stopEverything', 'stopAllServices', async () => {
    await sleep(EVENT_FLUSH_MS)
    await stopServices(name, stage)
  })
}

/**
 * Services.Shutdown (v1.10.3 internal/app/machined/pkg/system/system.go:228-239, stopServices :276-378) returns once
 * every service is down, apid among them: what comes after it (resetSpec's wipe, the reboot) runs with the machine's
 * API gone. Without the wait for apid a client could still read the wiped machine's services (etcd in Preparing, as
 * after the reboot) in the moment before lab/talos-api closes the listener, and take the machine for back.
 */
async function stopServices(name: string, stage: 'rebooting' | 'shutting down'): Promise<void> {
  updateNode(name, (x) => (x.stage = stage))
  await stopKubeApi(name)
  await stopEtcd(name)
  await apidStopped(name)
}

/** Until nothing answers on the machine's apid port (nothing at all when no lab/talos-api runs). */
export async function apidStopped(name: string): Promise<void> {
  const { address } = loadNode(name)
  const deadline = Date.now() + APID_STOP_MS
  while (await portOpen(address, APID_PORT, 1000)) {
    if (Date.now() > deadline)
      throw new Error(`apid on ${address}:${APID_PORT} still answers ${APID_STOP_MS} ms after its stop`)
    await sleep(25)
  }
}

/** stopAllPhaselist (v1alpha1_sequencer.go:479): services on EPHEMERAL, unmounts, kexec when enabled, then all. */
function stopAllPhases(
  name: string,
  boot: { via: 'kexec' | 'firmware' },
  kexec: boolean,
  stage: 'rebooting' | 'shutting down',
): Phase[] {
  return [
    phase('stopServices', 'stopServicesForUpgrade', () => stopEtcd(name)),
    phase('umount', 'unmountPodMounts'),
    phase('unmountBind', 'unmountSystemDiskBindMounts'),
    phase('unmountSystem', 'unmountEphemeralPartition'),
    phase('volumeFinalize', 'teardownLifecycle'),
    ...(kexec ? [phase('kexec', 'kexecPrepare', () => void (boot.via = 'kexec'))] : []),
    stopAllServices(name, stage),
  ]
}

/** The reboot task: gone for the firmware's or kexec's time, then Talos boots again. */
function rebootPhase(name: string, boot: { via: 'kexec' | 'firmware' }, atBoot: () => void = () => {}): Phase {
  return phase(
    'reboot',
    'reboot',
    async () => {
      await sleep(DOWN_MS[boot.via])
      atBoot()
      await bootNode(name, boot.via)
    },
    { final: true },
  )
}

/** The shutdown task: reboot(LINUX_REBOOT_CMD_POWER_OFF), off until the BMC powers it on (lab/machine-power.ts). */
function shutdownPhase(name: string): Phase {
  return phase('shutdown', 'shutdown', () => void updateNode(name, (x) => (x.power = 'off')), { final: true })
}

/** Controller.Run's lock (v1alpha1_controller.go priorityLock): one sequence at a time on a machine. */
const running = new Set<string>()

/**
 * The machines whose shutdown sequence ran storeShutdownEmergency (v1alpha1_sequencer_tasks.go:1812-1821): machined's
 * emergency.RebootCmd is then LINUX_REBOOT_CMD_POWER_OFF, so a failure powers the machine off instead of rebooting it.
 */
const powerOffOnFatal = new Set<string>()

/**
 * Controller.Run in the background: another sequence running makes this one a NOOP with "sequence not started:
 * locked" (v1alpha1_controller.go:119-129); a failing phase ends it with "sequence failed: error running phase N in
 * <seq> sequence: task 1/1: failed, <cause>" (v1alpha1_controller.go:142-157, 280, 316).
 */
export function startSequence(name: string, seq: string, actorId: string, phases: Phase[]): void {
  const pub = (type: Parameters<typeof publishEvent>[1], payload: Record<string, unknown>) =>
    publishEvent(name, type, payload, actorId)
  if (running.has(name)) {
    pub('SequenceEvent', {
      sequence: seq,
      action: 'NOOP',
      error: { code: 'LOCKED', message: 'sequence not started: locked' },
    })
    return
  }
  running.add(name)
  void runPhases(seq, phases, pub)
    .catch(async (e: Error) => {
      const message = `sequence failed: ${e.message}`
      pub('SequenceEvent', { sequence: seq, action: 'NOOP', error: { code: 'FATAL', message } })
      // v1alpha1_server.go:683-689 (Reset; Reboot, Shutdown, Upgrade alike): `log.Println("reset failed:", err)`
      logLine(name, `${seq} failed: ${e.message}`)
      await fatalSequenceError(name, seq, message)
    })
    .finally(() => {
      running.delete(name)
      powerOffOnFatal.delete(name)
    })
}

const logLine = (name: string, line: string) => process.stderr.write(`${new Date().toISOString()} ${name}: ${line}\n`)

/**
 * What machined does once a sequence failed (v1.10.3 internal/app/machined/main.go): its event watcher takes the
 * SequenceEvent's error, any code but LOCKED and CANCELED, for a "fatal sequencer error" (main.go:285-314), so
 * runEntrypoint returns and its deferred Services.Shutdown stops every service, apid among them (main.go:222); then
 * handle (main.go:100-150) logs the error, counts down 10 s and reboots with emergency.RebootCmd: a restart through the
 * firmware (LINUX_REBOOT_CMD_RESTART, not kexec), or a power-off after storeShutdownEmergency. A failed sequence thus
 * never leaves a machine half down: it boots again with its disks as the failure left them. Never throws: it runs
 * detached in the machine-api daemon, whose log keeps what went wrong (the event buffer goes with the boot).
 */
async function fatalSequenceError(name: string, seq: string, message: string): Promise<void> {
  const powerOff = powerOffOnFatal.has(name)
  try {
    await sleep(EVENT_FLUSH_MS) // the error event reaches the watchers (talosctl --wait) before apid stops
    logLine(name, `fatal sequencer error in "${seq}" sequence: code:FATAL message:${JSON.stringify(message)}`)
    await stopServices(name, powerOff ? 'shutting down' : 'rebooting')
    if (powerOff) return void updateNode(name, (x) => (x.power = 'off'))
    logLine(name, `rebooting in ${FATAL_REBOOT_COUNTDOWN_MS / 1000} seconds`)
    await sleep(FATAL_REBOOT_COUNTDOWN_MS + DOWN_MS.firmware)
    // a power cut (its BMC) during the countdown took machined with it: nothing reboots
    if (loadNode(name).power !== 'off') await bootNode(name, 'firmware')
  } catch (e) {
    logLine(name, `after the fatal error in the ${seq} sequence: ${(e as Error).message}`)
  }
}

async function runPhases(
  seq: string,
  phases: Phase[],
  pub: (type: Parameters<typeof publishEvent>[1], payload: Record<string, unknown>) => void,
): Promise<void> {
  pub('SequenceEvent', { sequence: seq, action: 'START' })
  let down = false
  try {
    for (const [i, p] of phases.entries()) {
      pub('PhaseEvent', { phase: p.name, action: 'START' })
      for (const [j, t] of p.tasks.entries()) {
        pub('TaskEvent', { task: t.name, action: 'START' })
        try {
          await t.run()
        } catch (e) {
          if (p.final) throw e
          pub('TaskEvent', { task: t.name, action: 'STOP' })
          if (p.tolerant) continue
          pub('PhaseEvent', { phase: p.name, action: 'STOP' })
          const cause = `task ${j + 1}/${p.tasks.length}: failed, ${(e as Error).message}`
          throw new Error(`error running phase ${i + 1} in ${seq} sequence: ${cause}`)
        }
        // the machine went down: this boot's machined, and its buffer, are gone
        if (p.final) return void (down = true)
        pub('TaskEvent', { task: t.name, action: 'STOP' })
      }
      pub('PhaseEvent', { phase: p.name, action: 'STOP' })
    }
  } finally {
    if (!down) pub('SequenceEvent', { sequence: seq, action: 'STOP' })
  }
}

/** Sequencer.Reboot (v1alpha1_sequencer.go:243): kexec unless a power cycle was asked for (KexecPrepare, tasks.go:1660). */
export function rebootSequence(name: string, powerCycle: boolean): Phase[] {
  const boot = { via: 'firmware' as 'kexec' | 'firmware' }
  return [
    phase('cleanup', 'stopAllPods', () => stopKubeApi(name)),
    phase('dbus', 'stopDBus'),
    ...stopAllPhases(name, boot, !powerCycle, 'rebooting'),
    rebootPhase(name, boot),
  ]
}

/** Sequencer.Shutdown (v1alpha1_sequencer.go:346): drain unless forced, no kexec, power off. */
export function shutdownSequence(name: string, force: boolean): Phase[] {
  return [
    phase('storeShutdown', 'storeShutdownEmergency', () => void powerOffOnFatal.add(name)),
    ...(force ? [] : [phase('drain', 'cordonAndDrainNode')]),
    phase('cleanup', 'stopAllPods', () => stopKubeApi(name)),
    phase('dbus', 'stopDBus'),
    ...stopAllPhases(name, { via: 'firmware' }, false, 'shutting down'),
    shutdownPhase(name),
  ]
}

/**
 * Sequencer.Reset (v1alpha1_sequencer.go:260) for the wipe the lab models, EPHEMERAL: a graceful reset drains, and on
 * a control plane leaves etcd first (which needs quorum); the stop phases' failures are only logged; resetSpec wipes
 * /var (etcd's data, kubelet's checkpoints); then reboot (kexec: the boot partition is kept) or power off.
 */
export function resetSequence(name: string, opts: { graceful: boolean; reboot: boolean }): Phase[] {
  const n = loadNode(name)
  const boot = { via: 'firmware' as 'kexec' | 'firmware' }
  const stopAll = stopAllPhases(name, boot, true, opts.reboot ? 'rebooting' : 'shutting down').map((p) => ({
    ...p,
    tolerant: true,
  }))
  return [
    ...(opts.graceful ? [phase('drain', 'cordonAndDrainNode', undefined, { tolerant: true })] : []),
    phase('cleanup', opts.graceful ? 'removeAllPods' : 'stopAllPods', () => stopKubeApi(name), { tolerant: true }),
    phase('dbus', 'stopDBus'),
    ...(opts.graceful && n.role === 'controlplane' ? [phase('leave', 'leaveEtcd', () => leaveEtcd(name))] : []),
    phase('preReset', 'sendResetSignal'),
    ...stopAll,
    phase('forceCleanup', 'forceCleanup'),
    phase('resetSpec', 'resetSystemDiskSpec', async () => {
      if (n.role === 'controlplane') await wipeEtcdData(name)
      wipeEphemeralKubeletState(paths.root(name))
    }),
    opts.reboot ? rebootPhase(name, boot) : shutdownPhase(name),
  ]
}

/** Sequencer.Upgrade (v1alpha1_sequencer.go:425): the installer writes the new image, then kexec or power cycle. */
export function upgradeSequence(name: string, image: string, powerCycle: boolean): Phase[] {
  const boot = { via: 'firmware' as 'kexec' | 'firmware' }
  return [
    phase('drain', 'cordonAndDrainNode'),
    phase('cleanup', 'stopAllPods', () => stopKubeApi(name)),
    phase('dbus', 'stopDBus'),
    phase('stopServices', 'stopServicesForUpgrade', () => stopEtcd(name)),
    phase('unmount', 'unmountPodMounts'),
    phase('unmountBind', 'unmountSystemDiskBindMounts'),
    phase('unmountSystem', 'unmountEphemeralPartition'),
    phase('volumeFinalize', 'teardownLifecycle'),
    phase('upgrade', 'upgrade', () => installUpgrade(name, image)),
    phase('meta', 'reloadMeta'),
    ...(powerCycle ? [] : [phase('kexec', 'kexecPrepare', () => void (boot.via = 'kexec'))]),
    stopAllServices(name, 'rebooting'),
    rebootPhase(name, boot),
  ]
}

/**
 * Sequencer.StageUpgrade (v1alpha1_sequencer.go:370): a reboot; the boot installs the staged image (meta tags
 * StagedUpgradeImageRef/InstallOptions, v1alpha1_server.go:521-552) before Talos starts.
 */
export function stageUpgradeSequence(name: string, image: string, powerCycle: boolean): Phase[] {
  const boot = { via: 'firmware' as 'kexec' | 'firmware' }
  return [
    phase('cleanup', 'stopAllPods', () => stopKubeApi(name)),
    phase('dbus', 'stopDBus'),
    ...stopAllPhases(name, boot, !powerCycle, 'rebooting'),
    rebootPhase(name, boot, () => installUpgrade(name, image)),
  ]
}

/** The cause etcd gave, without the lab client's "etcd <endpoint><path>: " prefix. */
const etcdCause = (e: unknown) => (e as Error).message.replace(/^etcd \S+: /, '')

/**
 * etcd.NewClientFromControlPlaneIPs (internal/pkg/etcd/etcd.go:43-91): a client to the control planes' etcd;
 * clientv3.New with DialTimeout 5 s fails when none answers.
 */
export async function controlPlaneEtcd(): Promise<EtcdClient> {
  const deadline = Date.now() + 5000
  for (;;) {
    for (const cp of loadNodes().filter((x) => x.role === 'controlplane')) {
      const c = etcdClient(cp, 1000)
      try {
        await c.status()
        return etcdClient(cp, 5000)
      } catch {
        // the next endpoint
      }
    }
    if (Date.now() > deadline) throw new Error('error building etcd client: context deadline exceeded')
    await sleep(250)
  }
}

/**
 * LeaveEtcd (v1alpha1_sequencer_tasks.go:889) and Client.LeaveCluster (internal/pkg/etcd/etcd.go:152): only when
 * /var/lib/etcd/member exists and etcd runs; the member is removed through the cluster, retrying "unhealthy
 * cluster" and "server stopped" every 10 s for 5 minutes; then etcd stops and its data directory is removed.
 */
async function leaveEtcd(name: string): Promise<void> {
  const n = loadNode(name)
  if (!existsSync(join(paths.etcdData(name), 'member')) || !isAlive(n.etcd.pid)) return
  let client: EtcdClient
  try {
    client = await controlPlaneEtcd()
  } catch (e) {
    throw new Error(`failed to create etcd client: ${(e as Error).message}`)
  }
  const id = await localMemberId(n)
  const deadline = Date.now() + 5 * 60_000
  for (;;) {
    try {
      await client.removeMember(id)
      break
    } catch (e) {
      const cause = etcdCause(e)
      if (/member not found/.test(cause)) break
      const retry =
        /unhealthy cluster|server stopped/.test(cause) || (e instanceof EtcdError && /unreachable/.test(e.message))
      if (!retry || Date.now() > deadline) throw new Error(`failed to leave cluster: ${cause}`)
      await sleep(10_000)
    }
  }
  await wipeEtcdData(name)
}

/** GetLocalMemberID: the member id this machine's etcd reports. */
async function localMemberId(n: LabNode): Promise<string> {
  if (n.etcd.memberId) return BigInt(`0x${n.etcd.memberId}`).toString()
  try {
    return (await etcdClient(n, 2000).status()).header.member_id
  } catch (e) {
    throw new Error(`failed to leave cluster: ${etcdCause(e)}`)
  }
}
