// The lab's on-disk state: the contract shared by the lab CLI (lab/cli.ts), the machine model behind the lab's Talos
// API (lab/machine-api/), the real control plane's supervisor (lab/real-kube-node.ts), the kubelet agents
// (lab/real-kubelets.ts) and the sysroot generator (lab/sysroot.ts).
// Every process reads and writes these files; there is no lab daemon holding state in memory.
//
// $TALOS_LAB_DIR (default <repo>/.lab)
//   lab.json                    LabCluster
//   nodes/<name>/node.json      LabNode
//   nodes/<name>/config.yaml    the machine config the node runs (0600), absent in maintenance mode
//   nodes/<name>/root/          the node's sysroot: proc/cmdline, proc/meminfo, proc/modules, proc/sys/...,
//                               sys/devices/system/node/..., var/mnt/<volume>/ ...  (`talosctl read` serves it)
//   nodes/<name>/etcd/          real etcd data dir        nodes/<name>/etcd.log
//   nodes/<name>/kube-api.log   the control plane supervisor's log (nodes/<name>/kube/: each component's)
//   ssh/<name>/                 the node's rescue sshd: sshd_config, host key, authorized_keys, disk.img
//   ssh/id_ed25519              the operator key the lab inventory points at (0600)
//   pki/                        lab CA and serving certs for the Kubernetes API
import type { LabEthtool } from './ethtool.ts'
import { readFileSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeFileAtomic } from '../lib/host/atomic-write.ts'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export function labDir(): string {
  return resolve(process.env.TALOS_LAB_DIR ?? join(REPO_ROOT, '.lab'))
}

export type Role = 'controlplane' | 'worker'

/** Where a simulated machine is in its life, as Talos reports it in `get machinestatus` (stage). */
export type Stage =
  | 'off' // not provisioned yet: no Talos on it, only the rescue system answers on SSH
  | 'maintenance' // booted Talos without config: answers `--insecure` only
  | 'booting' // config applied, services starting
  | 'running'
  | 'rebooting'
  | 'shutting down'

export interface Faults {
  /** Node unreachable: every talosctl call to it fails as a dead host does, its etcd and API are stopped. */
  down?: boolean
  /** Every talosctl call to the node takes this many ms more (so callers' timeouts fire). */
  slowMs?: number
  /** The node's etcd process was killed and is kept down. */
  etcdCrash?: boolean
  /** The node's Kubernetes API server is stopped. */
  apiDown?: boolean
  /** The next upgrade's image fails to boot: the node comes back on its previous installation (lab/installation.ts). */
  bootFail?: boolean
  /** The node's etcd data is destroyed: etcd crash-loops until EPHEMERAL is wiped (lab/etcd-recovery.ts). */
  etcdDataLoss?: boolean
}

/** Simulated hardware: drives the sysroot, `get disks`, kubelet capacity. */
export interface Hardware {
  /** CPUs per NUMA node (list of cpu ids), e.g. [[0,2,4,6],[1,3,5,7]] for interleaved numbering. */
  numaCpus: number[][]
  /** MiB of memory per NUMA node (0 = memory-less node). */
  numaMemoryMiB: number[]
  /** NUMA distance matrix. */
  distances: number[][]
  /**
   * SMT: the logical CPUs of each physical core (e.g. [[0,16],[2,18],...]). Absent: one thread per core. Served as
   * /sys/devices/system/cpu/cpuN/topology/thread_siblings_list (kernel Documentation/admin-guide/cputopology.rst).
   */
  threadSiblings?: number[][]
  disks: LabDisk[]
  /** Physical network ports (lab/network.ts). Absent: one port, eth0, cabled to the node network. */
  links?: LabLink[]
}

export interface LabDisk {
  /** /dev/sda, /dev/nvme0n1 ... */
  dev: string
  sizeBytes: number
  model: string
  serial: string
  wwid?: string
  transport: 'nvme' | 'sata' | 'virtio'
  rotational: boolean
  /**
   * What blkid finds on the whole disk from an earlier life ('xfs', 'ext4', 'dos', ...): Talos v1.10 never partitions
   * such a disk (lab/volumes.ts). Absent: blank.
   */
  signature?: string
}

/** A physical network port and what it is cabled to. */
export interface LabLink {
  /** the kernel's name, e.g. enp65s0f0np0 */
  name: string
  mac: string
  /** PCI bus path, e.g. 0000:41:00.0 */
  busPath: string
  driver: string
  /** a cable with a live switch port on the other end */
  carrier: boolean
  /**
   * The DHCP server of the segment the port is cabled to: it hands out <network>.<last octet of the node's address>
   * with this router. Absent: the node network, whose server hands out the node's own address (/24, router .1).
   */
  segment?: { cidr: string; router: string }
  /** its driver's ethtool defaults and maximums (lab/ethtool.ts); absent: a virtio NIC's (lab/ethtool.ts VIRTIO_NET) */
  ethtool?: LabEthtool
}

/** One boot entry on the system disk: the installer image written there and what booting it runs. */
export interface Installation {
  image?: string
  talosVersion: string
  cmdline: string
  bootSchematic?: string
}

export interface LabNode {
  name: string
  address: string
  role: Role
  /** From the inventory: 'validator' for the Solana node. */
  profile?: string
  stage: Stage
  /** The Talos version this boot runs (`talosctl version`); an upgrade changes it at the next boot (nextBoot). */
  talosVersion: string
  hardware: Hardware
  /** Set by 01 (image written over SSH or ISO boot): the disk Talos was installed to. */
  installDisk?: string
  /** Installer image of the boot entry this boot runs. */
  installedImage?: string
  /** Kernel command line of this boot: only install and upgrade change it, from the next boot on, as on real Talos. */
  cmdline: string
  /** uefi: systemd-boot, kernel args only from the image's schematic; bios (or unset): GRUB, plus machine.install.extraKernelArgs. */
  firmware?: 'uefi' | 'bios'
  /** The schematic of the image this boot runs (a written disk image's, or the installer image's of an upgrade). */
  bootSchematic?: string
  /** Why kubelet exits at start (lab/kubelet.ts: its checkpoint validation); Talos restarts it forever. */
  kubeletError?: string
  /** The A/B fallback an upgrade leaves on disk, for `talosctl rollback` and a failed boot (lab/installation.ts). */
  previousInstall?: Installation
  /**
   * The boot entry an upgrade or a rollback made the default, which the next boot runs (lab/installation.ts). Until
   * then the machine runs what it booted: talosVersion, bootSchematic, installedImage and cmdline above.
   */
  nextBoot?: Installation
  /** Bumped at every applied config; `get machineconfig` reports it as the resource version. */
  configVersion: number
  /** True on the one control-plane node `talosctl bootstrap` ran on. */
  bootstrapped: boolean
  etcd: {
    clientUrl: string // https://<address>:2379
    peerUrl: string // https://<address>:2380
    memberId?: string // hex, once joined
    pid?: number
    /** Why the last `bootstrap --recover-from` restore failed: etcd shows Failed with it (lab/etcd-recovery.ts). */
    recoverError?: string
  }
  kubeApi: {
    url: string // https://<address>:6443
    pid?: number
  }
  faults: Faults
  /** Switched by `talosctl shutdown` and the node's BMC (lab/machine-power.ts); absent means on. */
  power?: 'on' | 'off'
  /** ISO 8601; when the node last (re)booted, for uptime and health. */
  bootedAt?: string
  /** How the last boot came: kexec (a reboot that skipped the firmware) or the firmware (power on, power cycle). */
  bootedVia?: 'kexec' | 'firmware'
  /** Installer images the system containerd holds (pulled since boot: /system is a tmpfs), lab/registry.ts. */
  pulledImages?: string[]
}

export interface LabProcess {
  pid: number
  kind: 'etcd' | 'sshd' | 'kube-api' | 'converge' | 'machine-api' | 'talos-api' | 'bmc' | 'factory' | 'kubelets'
  node: string
}

export interface LabCluster {
  name: string
  /** The inventory the lab was brought up from. */
  inventory: string
  /** Cluster endpoint (VIP) from the inventory, e.g. https://127.0.10.10:6443 */
  endpoint: string
  createdAt: string
  nodes: string[]
  processes: LabProcess[]
}

export const paths = {
  cluster: () => join(labDir(), 'lab.json'),
  nodeDir: (name: string) => join(labDir(), 'nodes', name),
  node: (name: string) => join(labDir(), 'nodes', name, 'node.json'),
  config: (name: string) => join(labDir(), 'nodes', name, 'config.yaml'),
  root: (name: string) => join(labDir(), 'nodes', name, 'root'),
  etcdData: (name: string) => join(labDir(), 'nodes', name, 'etcd'),
  /** The node's etcd certificates, as Talos's /system/secrets/etcd (lab/node-services.ts). */
  etcdPki: (name: string) => join(labDir(), 'nodes', name, 'etcd-pki'),
  sshDir: (name: string) => join(labDir(), 'ssh', name),
  operatorKey: () => join(labDir(), 'ssh', 'id_ed25519'),
  pki: () => join(labDir(), 'pki'),
  /** The machine API daemon (lab/machine-api/daemon.ts) listens here; lab/talos-api asks it. */
  machineApiSocket: () => join(labDir(), 'machine-api.sock'),
}

/** The lab writes its state the way the runbooks write theirs (one helper, lib/atomic-write.ts). */
export { writeFileAtomic }

/** A machine that answers nothing: powered off, or the `down` fault (a dead machine). */
export const isDown = (n: Pick<LabNode, 'faults' | 'power'>): boolean => !!n.faults?.down || n.power === 'off'

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T
}

export function labExists(): boolean {
  return existsSync(paths.cluster())
}

export function loadCluster(): LabCluster {
  if (!labExists()) throw new Error(`no lab at ${labDir()}: run \`npm run lab -- up\` first`)
  return readJson<LabCluster>(paths.cluster())
}

export function saveCluster(c: LabCluster): void {
  writeFileAtomic(paths.cluster(), JSON.stringify(c, null, 2) + '\n', 0o644)
}

export function loadNode(name: string): LabNode {
  const f = paths.node(name)
  if (!existsSync(f)) throw new Error(`lab has no node ${name}`)
  return readJson<LabNode>(f)
}

export function saveNode(n: LabNode): void {
  writeFileAtomic(paths.node(n.name), JSON.stringify(n, null, 2) + '\n', 0o644)
}

export function loadNodes(): LabNode[] {
  return loadCluster().nodes.map(loadNode)
}

/** talosctl addresses nodes by IP (or name); find the lab node answering there. */
export function findNodeByAddress(addr: string): LabNode | undefined {
  return loadNodes().find((n) => n.address === addr || n.name === addr)
}

/** Read-modify-write of one node's state. Callers are short CLI processes; last writer wins per node. */
export function updateNode(name: string, fn: (n: LabNode) => void): LabNode {
  const n = loadNode(name)
  fn(n)
  saveNode(n)
  return n
}
