// The steps of 01-provision, kept out of the runbook so it reads as the procedure.
import { retry } from 'zx'
import { settleEach } from '../lib/host/settle.ts'
import { log } from '../lib/runner/log.ts'
import { waitFor } from '../lib/kube/kubectl.ts'
import { HostKeyMismatchError, presentedHostKey, RescueSession } from '../lib/host/ssh.ts'
import { RefusedError } from '../lib/runner/runner.ts'
import { listDisks, localImage, planDiskWrite, writeAndVerify } from './install-image.ts'
import { knownFingerprint, rescueFingerprint } from './rescue-host-keys.ts'
import type { Cluster } from '../config/cluster.ts'
import type { Inventory, InventoryNode } from '../config/inventory.ts'
import { imageProblemsMessage, imageSchematicProblems } from '../config/schematic-images.ts'
import { diskImageOf, fetchDiskImages, registerSchematics } from './image-factory.ts'
import { existsSync } from 'node:fs'
import { Bmc } from '../lib/host/bmc.ts'
import { probeMachine, type NodeProvisionState } from './machine-state.ts'

interface ProvisionState extends Map<string, NodeProvisionState> {
  pending(): InventoryNode[]
}

export async function provisionState(c: Cluster, nodes: InventoryNode[]): Promise<ProvisionState> {
  const entries = await Promise.all(nodes.map(async (n) => [n.name, await probeMachine(c, n)] as const))
  const m = new Map(entries) as ProvisionState
  m.pending = () => nodes.filter((n) => m.get(n.name)?.state === 'no-talos')
  return m
}

interface StepHandle {
  dryRun?: boolean
  progress?: (text: string) => void
}

/** Each machine's rescue host key fingerprint, as verifyRescueHosts established it. */
type Fingerprints = Map<string, string>

async function installOverRescue(
  inv: Inventory,
  n: InventoryNode,
  step: StepHandle,
  fingerprints: Fingerprints,
): Promise<void> {
  const r = n.rescue!
  const source = diskImageOf(inv, n)
  if (step.dryRun && !existsSync(source.file)) {
    log.info(`  (dry-run) would write ${source.url} to ${n.name}:${n.installDisk}, verify its checksum and reboot`)
    return
  }
  const image = await localImage(source.file)
  const fingerprint = fingerprints.get(n.name)!
  const s = await RescueSession.connect({ host: r.host, port: r.port, user: r.user, keyFile: r.keyFile, fingerprint })
  try {
    const plan = planDiskWrite(n, await listDisks(s), image)
    log.info(
      `  ${n.name}: ${plan.disk.dev} (${plan.disk.model || 'no model'}, ${(plan.disk.sizeBytes / 1e9).toFixed(0)} GB) ← ${image.file} (${(image.sizeBytes / 2 ** 20).toFixed(1)} MiB, sha256 ${image.sha256.slice(0, 12)}…)`,
    )
    if (step.dryRun) {
      log.info(`  (dry-run) would write ${image.file} to ${n.name}:${plan.disk.dev}, verify its checksum and reboot`)
      return
    }
    let shown = -1
    await writeAndVerify(s, plan, (done, total) => {
      const pct = Math.floor((100 * done) / total / 10) * 10
      if (pct !== shown) step.progress?.(`${n.name}: ${pct}% of ${(total / 2 ** 20).toFixed(1)} MiB written`)
      shown = pct
    })
    log.ok(`${n.name}: image written and verified (sha256 ${image.sha256.slice(0, 12)}…)`)
    await s.exec('reboot')
  } finally {
    s.close()
  }
}

/**
 * Before any disk is erased: every machine to be written presents its pinned (or trusted) host key and has the
 * install disk. A key nothing pins is asked about first, one machine at a time (rescue-host-keys.ts); without `ask`
 * it is refused. One wrong host key (a reinstalled rescue system, or the wrong machine behind that address) stops the
 * whole step with nothing written anywhere; the error lists every machine that failed.
 */
export async function verifyRescueHosts(
  outDir: string,
  nodes: InventoryNode[],
  ask?: Parameters<typeof rescueFingerprint>[2],
): Promise<Fingerprints> {
  const fingerprints: Fingerprints = new Map()
  // one question at a time: the operator compares each key with its console
  for (const n of nodes) fingerprints.set(n.name, await rescueFingerprint(outDir, n, ask))
  const r = await settleEach(nodes, async (n) => {
    const rescue = n.rescue!
    const fingerprint = fingerprints.get(n.name)!
    const s = await RescueSession.connect({
      host: rescue.host,
      port: rescue.port,
      user: rescue.user,
      keyFile: rescue.keyFile,
      fingerprint,
    })
    try {
      planDiskWrite(n, await listDisks(s), { file: '', sizeBytes: 0, sha256: '' })
    } finally {
      s.close()
    }
    log.info(`  ${n.name}: host key ${fingerprint} matches; ${n.installDisk} present`)
  })
  const failed = r.failures.map((f) => `${f.item.name}: ${f.message}`)
  if (!failed.length) return fingerprints
  const msg = `refusing to write any disk:\n  ${failed.join('\n  ')}`
  // a host key that does not match is a judgement (wrong machine?), not a glitch: exit 3 like every refusal
  throw r.failures.some((f) => f.error instanceof HostKeyMismatchError) ? new RefusedError(msg) : new Error(msg)
}

/** Write every machine, waiting for all of them: a failure on one must not end the runbook while others are mid-write. */
async function installAll(
  inv: Inventory,
  nodes: InventoryNode[],
  step: StepHandle,
  fingerprints: Fingerprints,
): Promise<void> {
  const r = await settleEach(nodes, (n) => installOverRescue(inv, n, step, fingerprints))
  const failed = r.failures.map((f) => `${f.item.name}: ${f.message}`)
  if (failed.length) throw new Error(`image write failed on ${failed.length} machine(s):\n  ${failed.join('\n  ')}`)
}

/**
 * 01's image write for `nodes` (all reachable over a rescue system), as 01 and 12 run it: refuse an image without the
 * node's schematic, register the schematics with the factory, check every host key and install disk before any disk
 * is erased, fetch the disk images, then write and verify each machine.
 */
export async function writeImages(
  c: Cluster,
  nodes: InventoryNode[],
  step: StepHandle & Parameters<typeof verifyRescueHosts>[2],
): Promise<void> {
  // an image without the node's schematic boots without its kernel args: refuse before any disk is written
  const problems = imageSchematicProblems(c.inv, nodes)
  if (problems.length) throw new RefusedError(imageProblemsMessage(problems, c.inventoryFile))
  await registerSchematics(c, nodes, step)
  const fingerprints = await verifyRescueHosts(c.paths.outDir, nodes, step)
  await fetchDiskImages(c, nodes, step)
  await installAll(c.inv, nodes, step, fingerprints)
}

export function isoInstructions(c: Cluster, nodes: InventoryNode[]): string {
  const iso = `https://factory.talos.dev/image/<schematic>/${c.inv.cluster.talosVersion}/metal-amd64.iso`
  return `Boot ${nodes.map((n) => `${n.name} (${n.address})`).join(', ')} from the Talos ${c.inv.cluster.talosVersion} ISO (${iso}); done?`
}

export async function waitForMaintenance(c: Cluster, nodes: InventoryNode[], timeoutMs = 10 * 60_000): Promise<void> {
  await Promise.all(
    nodes.map((n) =>
      waitFor(
        `${n.name} (${n.address}) to answer the Talos API`,
        async () => {
          const s = await probeMachine(c, n)
          return s.state === 'no-talos' ? undefined : s
        },
        { timeoutMs, intervalMs: 1000 },
      ),
    ),
  )
}

interface MachineReport {
  node: string
  talosVersion: string
  installDisk: string
  disks: string[]
}

/** Version and disks of each machine in maintenance mode; the inventory's install disk must be among them. */
export async function reportMaintenance(c: Cluster, nodes: InventoryNode[]): Promise<MachineReport[]> {
  const reports: MachineReport[] = []
  const missing: string[] = []
  await Promise.all(
    nodes.map(async (n) => {
      const st = await probeMachine(c, n)
      if (st.state === 'configured') {
        log.info(`  ${n.name}: already configured, disks not listed in maintenance mode`)
        return
      }
      // maintenance mode refuses `talosctl version --insecure`; it serves resources (see Talosctl.talosVersions)
      const [v, disks] = await Promise.all([
        c.talos.talosVersions([n.address], { insecure: true }),
        c.talos.disks([n.address], { insecure: true }),
      ])
      const tag = v[0]?.tag ?? '?'
      const devs = disks.map((d) => d.spec.dev_path)
      reports.push({ node: n.name, talosVersion: tag, installDisk: n.installDisk, disks: devs })
      log.info(
        `  ${n.name.padEnd(12)} Talos ${tag}  disks: ${disks.map((d) => `${d.spec.dev_path} ${d.spec.pretty_size ?? ''} ${d.spec.model ?? ''}`.trim()).join(', ')}`,
      )
      if (!devs.includes(n.installDisk))
        missing.push(`${n.name}: install disk ${n.installDisk} not found (has ${devs.join(', ') || 'no disks'})`)
    }),
  )
  if (missing.length) throw new Error(missing.join('; '))
  return reports
}

/** --bmc-reboot: every selected machine needs a BMC; said before anything runs. */
export function machinesWithoutBmc(nodes: InventoryNode[]): string[] {
  return nodes.filter((n) => !n.bmc).map((n) => n.name)
}

const RESCUE_BOOT_TIMEOUT_MS = 10 * 60_000

/**
 * Reboot each machine into its rescue system through its BMC: next boot from the network (the PXE rescue system),
 * then a power cycle (or power on, when it is off). Waits until each rescue system answers SSH with its pinned host
 * key, so the write-image step finds them there.
 */
export async function rebootIntoRescue(c: Cluster, nodes: InventoryNode[], step: StepHandle): Promise<void> {
  const r = await settleEach(nodes, async (n) => {
    const bmc = new Bmc(n.name, n.bmc!, { timeoutMs: c.talos.timeoutMs, dryRun: step.dryRun })
    await bmc.setNextBoot('pxe')
    const power = await bmc.powerStatus()
    await (power === 'on' ? bmc.powerCycle() : bmc.powerOn())
    if (step.dryRun) return
    const rescue = n.rescue!
    const fingerprint = knownFingerprint(c.paths.outDir, n)
    const t0 = Date.now()
    // the machine answers SSH once its rescue system is up; until then the connection is refused or times out. A key
    // nothing pins yet is only read here: the write step asks about it before anything is written.
    await retry(Math.ceil(RESCUE_BOOT_TIMEOUT_MS / 2000), '2s', async () => {
      step.progress?.(`${n.name}: waiting for its rescue system (${Math.round((Date.now() - t0) / 1000)} s)`)
      if (!fingerprint) return presentedHostKey({ host: rescue.host, port: rescue.port })
      const s = await RescueSession.connect({
        host: rescue.host,
        port: rescue.port,
        user: rescue.user,
        keyFile: rescue.keyFile,
        fingerprint,
      })
      s.close()
    })
    log.info(
      `  ${n.name}: rescue system up after ${((Date.now() - t0) / 1000).toFixed(1)} s (host key ${fingerprint ?? 'not pinned yet'})`,
    )
  })
  const failed = r.failures.map((f) => `${f.item.name}: ${f.message}`)
  if (failed.length)
    throw new Error(`rebooting into the rescue system failed on ${failed.length} machine(s):\n  ${failed.join('\n  ')}`)
}
