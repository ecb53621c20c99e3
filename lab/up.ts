// `lab up`: create the simulated machines of a lab inventory, powered "off" (no Talos yet): each has its
// hardware, a sysroot, and a rescue system answering on SSH, exactly where a runbook starts on real metal.
import { startImageFactory, startKubelets, startMachineApiDaemon, startTalosApi } from './daemons.ts'
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { hardwareProfile } from './hardware.ts'
import { writeLabImages, type LabImage } from './images.ts'
import { readLabInventory, type LabInventory } from './lab-inventory.ts'
import { isAlive, portOpen } from './processes.ts'
import { RESCUE_CMDLINE } from './rescue/outputs.ts'
import { ensureOperatorKey, prepareRescueSshd, rescueSshdPid, startRescueSshd } from './sshd.ts'
import { createSysroot } from './sysroot.ts'
import {
  isDown,
  labDir,
  labExists,
  loadCluster,
  loadNodes,
  paths,
  saveCluster,
  saveNode,
  type LabNode,
} from './state.ts'
import { labDown } from './down.ts'
import { EMPTY_SCHEMATIC_ID } from '../lib/talos/schematic.ts'
import { startBmc } from './bmc/sim.ts'

/** How long after each boot a `lab up` machine's CRI is up and its clock synchronised (test labs: at once). */
const LAB_UP_CRI_UP_MS = 2000
const LAB_UP_TIME_SYNC_MS = 4000

export class LabStateError extends Error {}

/** Why the existing lab is not healthy, or [] when every process it should run is alive. */
export function labProblems(): string[] {
  const problems: string[] = []
  const c = loadCluster()
  // converge is a one-shot job that exits when done; the rest must be running
  for (const p of c.processes)
    if (p.kind !== 'converge' && !isAlive(p.pid)) problems.push(`${p.kind} of ${p.node} (pid ${p.pid}) is not running`)
  for (const n of loadNodes()) {
    if (n.stage === 'off' && !isDown(n) && !rescueSshdPid(n.name))
      problems.push(`rescue sshd of ${n.name} is not running`)
    if (n.etcd.pid && !isAlive(n.etcd.pid)) problems.push(`etcd of ${n.name} (pid ${n.etcd.pid}) is not running`)
    if (n.kubeApi.pid && !isAlive(n.kubeApi.pid))
      problems.push(`kube-api of ${n.name} (pid ${n.kubeApi.pid}) is not running`)
  }
  return problems
}

export function newLabNode(inv: LabInventory['nodes'][number]): LabNode {
  return {
    name: inv.name,
    address: inv.address,
    role: inv.role,
    ...(inv.profile ? { profile: inv.profile } : {}),
    stage: 'off',
    talosVersion: '',
    hardware: hardwareProfile(inv.hardware),
    cmdline: RESCUE_CMDLINE,
    // Talos v1.10 boots UEFI machines with systemd-boot: kernel args come from the image's schematic only
    firmware: 'uefi',
    configVersion: 0,
    bootstrapped: false,
    etcd: { clientUrl: `https://${inv.address}:2379`, peerUrl: `https://${inv.address}:2380` },
    kubeApi: { url: `https://${inv.address}:6443` },
    faults: {},
  }
}

export interface UpResult {
  alreadyUp: boolean
  inventory: LabInventory
  image?: LabImage
  fingerprints: Record<string, string>
}

export async function labUp(inventoryFile: string): Promise<UpResult> {
  const inv = readLabInventory(inventoryFile)
  const dir = labDir()
  if (labExists()) {
    const problems = labProblems()
    if (problems.length === 0) return { alreadyUp: true, inventory: inv, fingerprints: {} }
    throw new LabStateError(
      `a lab already exists in ${dir} but is not healthy (${problems.join('; ')}): run \`npm run lab -- down\` first`,
    )
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new LabStateError(
      `${dir} exists and is not empty but holds no lab.json: remove it (or run \`npm run lab -- down\` if it is a broken lab) first`,
    )
  }
  // the lab's hardware profiles are checked before anything is created
  const nodes = inv.nodes.map(newLabNode)
  for (const n of inv.nodes) {
    if (await portOpen(n.rescue.host, n.rescue.port))
      throw new LabStateError(`${n.rescue.host}:${n.rescue.port} (rescue SSH of ${n.name}) is already in use`)
  }
  const factory = inv.imageFactory
  if (factory && (await portOpen(factory.host, factory.port)))
    throw new LabStateError(`${factory.host}:${factory.port} (the lab's Image Factory) is already in use`)

  mkdirSync(dir, { recursive: true, mode: 0o700 })
  saveCluster({
    name: inv.clusterName,
    inventory: resolve(inventoryFile),
    endpoint: inv.endpoint,
    createdAt: new Date().toISOString(),
    nodes: nodes.map((n) => n.name),
    processes: [],
  })
  try {
    // the factory learns the inventory's schematics only when 01 or 09 POSTs them; the empty schematic's disk image
    // is there for an inventory that names it by file:// (every factory knows the empty schematic)
    const image = writeLabImages(inv.talosVersion, [{ id: EMPTY_SCHEMATIC_ID, extraKernelArgs: [] }])
    ensureOperatorKey()
    const fingerprints: Record<string, string> = {}
    for (const [i, n] of nodes.entries()) {
      saveNode(n)
      createSysroot(paths.root(n.name), n.hardware, { cmdline: n.cmdline, hostname: n.name })
      fingerprints[n.name] = prepareRescueSshd({ node: n.name, ...inv.nodes[i]!.rescue })
    }
    // sequential: spawnDetached read-modify-writes lab.json
    for (const n of nodes) await startRescueSshd(n.name)
    for (const n of inv.nodes) if (n.bmc) await startBmc({ node: n.name, ...n.bmc })
    // a machine that has just booted refuses a bootstrap until its CRI is up and its clock synchronised, as on
    // hardware (lab/node-services.ts criUpAt, timeSyncedAt): a few seconds here, unless the environment says
    process.env.TALOS_LAB_CRI_UP_MS ??= String(LAB_UP_CRI_UP_MS)
    process.env.TALOS_LAB_TIME_SYNC_MS ??= String(LAB_UP_TIME_SYNC_MS)
    await startMachineApiDaemon()
    await startTalosApi()
    startKubelets()
    if (factory) await startImageFactory(factory.host, factory.port)
    return { alreadyUp: false, inventory: inv, image, fingerprints }
  } catch (e) {
    await labDown({ graceMs: 1000 })
    throw e
  }
}
