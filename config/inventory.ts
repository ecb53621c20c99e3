// The cluster inventory (inventory/*.yaml): read, validate, merge defaults. Every problem is reported with
// file:line:col and the field's path, all at once, so an SRE fixes the file in one pass:
//   inventory/lab.yaml:23:5: nodes[3].address: must be an IPv4 or IPv6 address or DNS name (got "10.0.0.1; rm -rf /")
// Structure and types come from a JSON schema (config/inventory-schema.ts, ajv); the rules below it cover what
// a schema cannot say (counts, uniqueness, formats with good messages, sums, and hardware limits when the
// caller knows the machines: `checkInventory(..., { hardware })`). The `lab:` blocks are the lab's data.
import { formatCpuList as formatCpus, parseCpuList } from '../lib/host/numa.ts'
import { offlineAfterBoot } from '../lib/host/cpu-online.ts'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { isAbsolute, normalize } from 'node:path'
import { partitionInstallDiskMessage, partitionOf } from '../lib/host/block-device.ts'
import { kubeletSysctlProblem, sysctlValueProblem } from '../lib/host/sysctl-values.ts'
import type { BmcSpec } from '../lib/host/bmc.ts'
import type { ErrorObject } from 'ajv'
import validateSchema from './generated/inventory-validator.js'
import { isSecretKey } from '../lib/runner/redact.ts'
import { UsageError } from '../lib/runner/flags.ts'
import { quantityValue } from '../lib/kube/quantity.ts'
import { DEFAULT_IMAGE_FACTORY, parseInstallerImage } from '../lib/talos/schematic.ts'
import { nicProblems, type NicTuning } from './nic.ts'
import { dataDirProblem, storageDataDir } from './volume-data-dir.ts'
import type { NetProvider } from '../lib/host/solana-limits.ts'
import {
  hugepageBytes,
  hugepageBytesPerNode,
  hugepagePools,
  hugepageQuantity,
  podHugepages,
  type HugepagePool,
  type HugepagesInput,
  type PodHugepages,
  type PodHugepagesInput,
} from './hugepages.ts'
import {
  describeVolumeDisk,
  diskIdSafe,
  disksMayCoincide,
  givenKeys,
  parseByteSize,
  sizeRange,
  volumeDiskMatches,
  type KnownDisk,
  type VolumeDisk,
} from './volume-disk.ts'
import {
  ALIAS_BOMB,
  aliasBombAt,
  errorPosition,
  formatPath,
  parseWithPositions,
  pointerToPath,
  positionOf,
  type ParsedYaml,
  type PathSeg,
} from './yaml-positions.ts'

// ---------------------------------------------------------------- types

interface RescueSpec {
  host: string
  port: number
  user: string
  keyFile: string
  /**
   * `SHA256:...` or `file:PATH` (a file holding that fingerprint); absent: 01 shows the presented key and asks the
   * operator to trust it on first use (never under --yes), then keeps it in <outputDir>/rescue-host-keys/.
   */
  hostKeyFingerprint?: string
  /**
   * The disk image 01 writes: file://PATH, or an http(s) URL 01 downloads into its cache. Absent: the Image Factory's
   * metal image for the node's schematic (cluster.imageFactory).
   */
  imageUrl?: string
}

export interface InventoryNode {
  name: string
  address: string
  role: 'controlplane' | 'worker'
  profile?: 'validator'
  installDisk: string
  /** Defaults merged in: always complete. */
  rescue: RescueSpec
  /** Power control; without it, powering the machine on is the operator's job. */
  bmc?: BmcSpec
  lab?: { hardware: string }
  network?: NodeNetwork
}

/** A physical port, named by its MAC, PCI bus path or link name (exactly one). */
export interface LinkRef {
  mac?: string
  busPath?: string
  name?: string
}

/** The one link Talos configures: selected by MAC, PCI bus path or name; static address (CIDR) or DHCP. */
interface NodeNetwork {
  link: LinkRef
  address?: string
  gateway?: string
  /**
   * The machine's other physical ports, which Talos must leave alone (ignore: true). Talos v1.10 runs DHCP on every
   * physical link that no config names and that has a carrier (controllers/network/operator_config.go:241-259).
   */
  otherLinks?: LinkRef[]
}

export interface StorageSpec {
  name: string
  /** The one disk this volume goes on (rendered as the UserVolumeConfig's CEL diskSelector: config/volume-disk.ts). */
  disk: VolumeDisk
  minSize?: string
  maxSize?: string
  filesystem: 'xfs' | 'ext4'
  /** Talos v1.10 mounts user volumes at /var/mnt/<name>; the inventory states it so checks can look there. */
  mountPoint: string
  /** The validator's directory in the volume, which owner and mode are of (config/volume-data-dir.ts says why). */
  dataDir?: string
  owner: { uid: number; gid: number }
  mode: string
}

export interface Taint {
  key: string
  value?: string
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute'
}

/**
 * The governors offered (config/inventory-schema.ts), both built into Talos v1.10.3's kernel (siderolabs/pkgs
 * kernel/build/config-amd64 at v1.10.0-16-g39b9c9f: CONFIG_CPU_FREQ_GOV_PERFORMANCE=y, CONFIG_CPU_FREQ_GOV_SCHEDUTIL=y
 * and CONFIG_CPU_FREQ_DEFAULT_GOV_SCHEDUTIL=y). It also has ondemand and userspace (userspace needs a daemon to set
 * the clock), not powersave or conservative.
 */
export type CpuGovernor = 'performance' | 'schedutil'

export interface ValidatorProfile {
  /** The pools, largest page first (config/hugepages.ts hugepagePools; the inventory may write one pool). */
  hugepages: HugepagePool[]
  cpuManagerPolicy?: 'none' | 'static'
  topologyManagerPolicy?: 'none' | 'best-effort' | 'restricted' | 'single-numa-node'
  topologyManagerScope?: 'container' | 'pod'
  reservedSystemCpus?: string
  /** The cpufreq governor every CPU boots with (cpufreq.default_governor=); default performance. */
  cpuGovernor?: CpuGovernor
  systemReserved?: Record<string, string>
  kubeReserved?: Record<string, string>
  evictionHard?: Record<string, string>
  reservedMemory?: { numaNode: number; memory: string }[]
  /** The validator pod's requests (= limits): whole CPUs, memory and hugepages as quantities. */
  pod?: ValidatorPod
  sysctls?: Record<string, string>
  kernelModules?: string[]
  kernelArgs?: string[]
  /** fdctl's [net] provider (default xdp): the sysctls rendered for it and the limits solana.host-limits checks. */
  netProvider?: NetProvider
  /** The namespace the validator runs in: rendered with PodSecurity level privileged (default solana). */
  namespace?: string
  /** The validator's own installer image (its schematic carries the validator's kernel args). */
  installerImage?: string
  /** Where 09-upgrade reads the validator's leader schedule (its restart window). */
  solana?: { rpcUrl: string; identity: string }
  storage?: StorageSpec[]
  labels?: Record<string, string>
  taints?: Taint[]
  /** ethtool settings for the validator's link, rendered as an EthernetConfig document (config/nic.ts). */
  nic?: NicTuning
}

interface ValidatorPod {
  cpus: number
  memory: string
  /** Per page size (config/hugepages.ts podHugepages; the inventory may write one quantity of the default size). */
  hugepages: PodHugepages
}

export interface ClusterSpec {
  name: string
  target: 'lab' | 'production'
  endpoint: string
  vip?: string
  talosVersion: string
  kubernetesVersion: string
  /** The Image Factory's base URL (default https://factory.talos.dev). */
  imageFactory: string
  /** A custom installer image for the nodes without one of their own; absent: the factory's, for each schematic. */
  installerImage?: string
  outputDir: string
  nodeSubnet?: string
  etcdQuotaBytes?: number
  /** Go duration; the etcd backup check warns when the newest snapshot is older (default 24h). */
  etcdBackupMaxAge?: string
}

export interface Inventory {
  cluster: ClusterSpec
  defaults?: { rescue?: Partial<RescueSpec> }
  nodes: InventoryNode[]
  validator?: ValidatorProfile
}

export interface InventoryIssue {
  file: string
  line: number
  column: number
  /** e.g. nodes[3].address */
  field: string
  message: string
}

/** Bad input: a UsageError, so every entry point exits 2 for it as for a bad flag. */
export class InventoryError extends UsageError {
  readonly issues: InventoryIssue[]
  constructor(issues: InventoryIssue[]) {
    super(issues.map(formatIssue).join('\n'))
    this.name = 'InventoryError'
    this.issues = issues
  }
}

/** `file:line:col: field: message`; a problem with the file as a whole (missing, a directory) has no position. */
/** The validator's namespace (validator.namespace, default solana). */
export const validatorNamespace = (v: Pick<ValidatorProfile, 'namespace'> | undefined) => v?.namespace ?? 'solana'

export const formatIssue = (i: InventoryIssue) =>
  `${i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file}: ${i.field ? `${i.field}: ` : ''}${i.message}`

// ---------------------------------------------------------------- small validators (exported for reuse)

/** RFC 1123 label, as Kubernetes node names and Talos hostnames need. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i
const DISK_PATH = /^\/dev\/[a-z0-9/_-]+$/
/** Characters a value may hold when it ends up on a command line or in a path: no ; & | $ ` ( ) < > quotes, spaces, globs. */
const SHELL_SAFE = /^[A-Za-z0-9_./:@%+=,~-]*$/
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/
const SYSCTL_KEY = /^[a-z0-9_]+([./][a-zA-Z0-9_-]+)+$/
const MODULE_NAME = /^[a-zA-Z0-9_-]+$/
const KERNEL_ARG = /^-?[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:=/+@-]+)?$/

const isHostAddress = (s: string) => isIP(s) !== 0 || (DNS_NAME.test(s) && !/^[0-9.]+$/.test(s))

/** Kubernetes label/taint key: optional DNS-subdomain prefix + "/" + name (≤ 63). */
export function isLabelKey(k: string): boolean {
  const parts = k.split('/')
  if (parts.length > 2) return false
  const name = parts[parts.length - 1]
  if (!LABEL_NAME.test(name) || name.length > 63) return false
  if (parts.length === 2)
    return parts[0].length <= 253 && DNS_NAME.test(parts[0]) && parts[0] === parts[0].toLowerCase()
  return true
}
const isLabelValue = (v: string) => v.length <= 63 && LABEL_VALUE.test(v)

/** Kubernetes quantity → number (bytes for memory, cores for cpu); NaN when it is not one, so sums compare false. */
const quantityOrNaN = (q: string): number => quantityValue(q) ?? NaN

// ---------------------------------------------------------------- machine facts (optional)

/** What the caller knows about a machine's memory and CPUs per NUMA node (the inventory itself does not say). */
interface HardwareFacts {
  numaMemoryMiB: number[]
  numaCpus: number[][]
  /** the logical CPUs of each physical core (SMT siblings); absent: one thread per core */
  threadSiblings?: number[][]
  /** the machine's disks (dev path, serial, WWID, size), to check that each volume names exactly one */
  disks?: KnownDisk[]
  /** the machine's physical network ports, to check that network.link and otherLinks name each exactly once */
  links?: { name: string; mac: string; busPath: string }[]
}
/** Facts about the machine named `node`, from whoever knows them (the lab knows its simulated machines). */
type HardwareLookup = (node: string) => HardwareFacts | undefined

// ---------------------------------------------------------------- parse + validate

// config/inventory-schema.ts compiled ahead of time (config/gen-inventory-validator.ts): no ajv compile at start-up

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML documents are walked by path, their shape checked by the schema
type Obj = Record<string, any>

class Collector {
  issues: InventoryIssue[] = []
  warnings: InventoryIssue[] = []
  constructor(
    readonly file: string,
    readonly parsed: ParsedYaml,
  ) {}
  private make(path: PathSeg[], message: string): InventoryIssue {
    const pos = positionOf(this.parsed, path)
    return {
      file: this.file,
      line: pos.line,
      column: pos.column,
      field: formatPath(path),
      message: hideSecretValue(path, message),
    }
  }
  error(path: PathSeg[], message: string) {
    // ajv and a rule may both see the same problem; say it once
    const i = this.make(path, message)
    if (!this.issues.some((x) => x.field === i.field && x.message === i.message)) this.issues.push(i)
  }
  warn(path: PathSeg[], message: string) {
    this.warnings.push(this.make(path, message))
  }
}

const got = (v: unknown) => `(got ${JSON.stringify(v)})`

/**
 * A field named like a secret (password, token, keyFile...) may hold one: its value is never quoted back. A host key
 * fingerprint is public (ssh-keygen -lf prints it for anyone), so it is shown.
 */
function hideSecretValue(path: PathSeg[], message: string): string {
  const name = [...path].reverse().find((p): p is string => typeof p === 'string')
  const secret = !!name && isSecretKey(name) && !/Fingerprint$/.test(name)
  return secret ? message.replace(/\(got [\s\S]*\)$/, '(value not shown)') : message
}

function ajvMessage(e: ErrorObject): { path: PathSeg[]; message: string } {
  const path = pointerToPath(e.instancePath)
  const custom = (e.parentSchema as Obj | undefined)?.['x-message'] as string | undefined
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty
      return {
        path: [...path, extra],
        message: `unknown field "${extra}" (allowed: ${Object.keys((e.parentSchema as Obj).properties ?? {}).join(', ')})`,
      }
    }
    case 'required':
      return { path, message: `missing required field "${(e.params as { missingProperty: string }).missingProperty}"` }
    case 'enum':
      return {
        path,
        message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')} ${got(e.data)}`,
      }
    case 'type':
      if (path.length === 0)
        return { path, message: `an inventory is a YAML mapping with cluster: and nodes: ${got(e.data ?? '(empty)')}` }
      return { path, message: `${custom ?? `must be ${(e.params as { type: string }).type}`} ${got(e.data)}` }
    case 'pattern':
      return { path, message: `${custom ?? `must match ${(e.params as { pattern: string }).pattern}`} ${got(e.data)}` }
    case 'not':
      return { path, message: `${custom ?? 'is not allowed here'} ${got(e.data)}` }
    case 'minLength':
      return { path, message: 'must not be empty' }
    case 'minItems':
      return { path, message: `must have at least ${(e.params as { limit: number }).limit} item(s)` }
    default:
      return { path, message: `${e.message ?? 'is invalid'} ${got(e.data)}` }
  }
}

function mergeNodes(doc: Obj): InventoryNode[] {
  const d: Partial<RescueSpec> = doc.defaults?.rescue ?? {}
  return (doc.nodes as Obj[]).map((n) => {
    const r: Partial<RescueSpec> = n.rescue ?? {}
    const rescue: RescueSpec = {
      host: r.host ?? d.host ?? n.address,
      port: r.port ?? d.port ?? 22,
      user: r.user ?? d.user ?? 'root',
      keyFile: (r.keyFile ?? d.keyFile) as string,
      ...((r.hostKeyFingerprint ?? d.hostKeyFingerprint)
        ? { hostKeyFingerprint: (r.hostKeyFingerprint ?? d.hostKeyFingerprint) as string }
        : {}),
      ...((r.imageUrl ?? d.imageUrl) ? { imageUrl: (r.imageUrl ?? d.imageUrl) as string } : {}),
    }
    const out: InventoryNode = { name: n.name, address: n.address, role: n.role, installDisk: n.installDisk, rescue }
    if (n.profile) out.profile = n.profile
    if (n.bmc)
      out.bmc = {
        type: n.bmc.type,
        address: n.bmc.address,
        port: n.bmc.port ?? 623,
        username: n.bmc.username,
        passwordFile: n.bmc.passwordFile,
        cipherSuite: n.bmc.cipherSuite ?? 3,
      }
    if (n.lab) out.lab = { hardware: n.lab.hardware }
    if (n.network) out.network = n.network
    return out
  })
}

function shellSafe(c: Collector, path: PathSeg[], v: unknown) {
  if (typeof v === 'string' && !SHELL_SAFE.test(v))
    c.error(
      path,
      `must not contain shell metacharacters or spaces (it is used on a command line or as a path) ${got(v)}`,
    )
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i
const BUS_PATH = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i
const LINK_NAME = /^[A-Za-z0-9_.-]{1,15}$/

/** "10.20.0.11/24" → { ip, bits } when it is an address in CIDR form. */
export function parseCidr(s: string): { ip: string; bits: number } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s)
  if (!m || !isIP(m[1]!)) return undefined
  const bits = Number(m[2])
  return bits <= (isIP(m[1]!) === 4 ? 32 : 128) ? { ip: m[1]!, bits } : undefined
}

const ipBits = (ip: string): bigint =>
  isIP(ip) === 4
    ? ip.split('.').reduce((a, o) => (a << 8n) | BigInt(o), 0n)
    : expandV6(ip).reduce((a, h) => (a << 16n) | BigInt(parseInt(h, 16)), 0n)
function expandV6(ip: string): string[] {
  const [head, tail = ''] = ip.split('::')
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  return ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h
}

/** The network of an address in CIDR form: "10.20.0.11/24" → "10.20.0.0/24". */
function cidrNetwork(cidr: string): string | undefined {
  const p = parseCidr(cidr)
  if (!p) return undefined
  const width = isIP(p.ip) === 4 ? 32 : 128
  const net = (ipBits(p.ip) >> BigInt(width - p.bits)) << BigInt(width - p.bits)
  const text =
    width === 32
      ? [24n, 16n, 8n, 0n].map((s) => String((net >> s) & 255n)).join('.')
      : Array.from({ length: 8 }, (_, i) => ((net >> BigInt(112 - 16 * i)) & 0xffffn).toString(16))
          .join(':')
          .replace(/(^|:)0(:0)+(:|$)/, '::')
  return `${text}/${p.bits}`
}

/** Whether ip lies in the subnet (CIDR). */
export function inSubnet(ip: string, cidr: string): boolean {
  const p = parseCidr(cidr)
  if (!p || isIP(ip) !== isIP(p.ip)) return false
  const width = isIP(p.ip) === 4 ? 32 : 128
  const shift = BigInt(width - p.bits)
  return ipBits(ip) >> shift === ipBits(p.ip) >> shift
}

/** The subnet rendered into etcd advertisedSubnets / kubelet validSubnets for a node, if the inventory says it. */
export const nodeSubnetOf = (cluster: Pick<ClusterSpec, 'nodeSubnet'>, n: Pick<InventoryNode, 'network'>) =>
  cluster.nodeSubnet ? cidrNetwork(cluster.nodeSubnet) : n.network?.address ? cidrNetwork(n.network.address) : undefined

/**
 * One link per node. `deviceSelector: {physical: true}` would match every physical port (Talos v1.10.3
 * pkg/machinery/config/types/v1alpha1/v1alpha1_types.go NetworkDeviceSelector: all set fields must match, and
 * physical matches any physical link), putting DHCP and the VIP on each. A production control plane carrying the
 * VIP without a named link is an error (exit 2 from every entry point), so the VIP cannot land on a second cabled port;
 * a lab inventory may still leave it out (its network is simulated).
 */
function checkNodeNetwork(c: Collector, doc: Obj, n: Obj, i: number) {
  const at = (...p: PathSeg[]) => ['nodes', i, 'network', ...p]
  const net: Obj | undefined = n.network
  if (!net) {
    if (doc.cluster.target === 'production' && n.role === 'controlplane' && doc.cluster.vip)
      c.error(
        ['nodes', i],
        `no network.link (mac, busPath or name): the VIP ${doc.cluster.vip} and DHCP would go on every physical port (deviceSelector physical: true); add network: { link: { mac | busPath | name } } naming the one link`,
      )
    return
  }
  checkLinkRef(c, at('link'), net.link)
  if (net.address !== undefined) {
    const p = parseCidr(net.address)
    if (!p) c.error(at('address'), `must be an address in CIDR form such as 10.20.0.11/24 ${got(net.address)}`)
    else if (isIP(n.address) && p.ip !== n.address)
      c.error(at('address'), `is ${p.ip}, but the node's address is ${n.address}`)
  }
  if (net.gateway !== undefined && isIP(net.gateway) === 0)
    c.error(at('gateway'), `must be an IP address ${got(net.gateway)}`)
  if (net.gateway !== undefined && net.address === undefined)
    c.error(at('gateway'), 'a gateway needs a static address (with DHCP the server gives the route)')
  const subnet = nodeSubnetOf(doc.cluster, n)
  if (
    subnet &&
    !doc.cluster.nodeSubnet &&
    n.role === 'controlplane' &&
    doc.cluster.vip &&
    isIP(doc.cluster.vip) &&
    !inSubnet(doc.cluster.vip, subnet)
  )
    c.error(
      ['cluster', 'vip'],
      `${doc.cluster.vip} is not in ${n.name}'s subnet ${subnet}: Talos' VIP must be on the control planes' shared layer-2 subnet`,
    )
}

/** A port named by exactly one of mac, busPath, name, each in its format. */
function checkLinkRef(c: Collector, at: PathSeg[], l: Obj | undefined) {
  const given = (['mac', 'busPath', 'name'] as const).filter((k) => l?.[k] !== undefined)
  if (given.length !== 1)
    c.error(at, `give exactly one of mac, busPath, name (got ${given.length ? given.join(', ') : 'none'})`)
  if (l?.mac !== undefined && !MAC.test(l.mac))
    c.error([...at, 'mac'], `must be a MAC address such as 0c:42:a1:12:34:56 ${got(l.mac)}`)
  if (l?.busPath !== undefined && !BUS_PATH.test(l.busPath))
    c.error([...at, 'busPath'], `must be a PCI bus path such as 0000:01:00.0 ${got(l.busPath)}`)
  if (l?.name !== undefined && !LINK_NAME.test(l.name))
    c.error([...at, 'name'], `must be a link name such as enp1s0f0 ${got(l.name)}`)
}

/** "mac 0c:42:…", "busPath 0000:41:00.1", "name eno2": how messages name a port. */
const linkRefText = (l: LinkRef) =>
  l.mac !== undefined
    ? `mac ${l.mac.toLowerCase()}`
    : l.busPath !== undefined
      ? `busPath ${l.busPath}`
      : `name ${l.name}`

/** Whether a port of the machine is the one a reference names. */
const linkRefMatches = (l: LinkRef, port: { name: string; mac: string; busPath: string }) =>
  l.mac !== undefined
    ? l.mac.toLowerCase() === port.mac.toLowerCase()
    : l.busPath !== undefined
      ? l.busPath === port.busPath
      : l.name === port.name

/**
 * What Talos does with the machine's other ports. Talos v1.10.3 brings up every physical link no config names and
 * runs DHCP on it as soon as it has a carrier (internal/app/machined/pkg/controllers/network/link_config.go:157-213,
 * operator_config.go:241-259): a second cabled port gets an address and a default route beside the node's link. A
 * config entry with `ignore: true` leaves the link down and unconfigured (link_config.go:90, operator_config.go:136).
 * So with a named link the inventory lists the others (`otherLinks`, [] for none); production requires it.
 */
function checkOtherLinks(c: Collector, doc: Obj, n: Obj, i: number, hw: HardwareFacts | undefined) {
  const net: Obj | undefined = n.network
  if (!net) return
  const at = (...p: PathSeg[]) => ['nodes', i, 'network', ...p]
  const others = net.otherLinks as LinkRef[] | undefined
  if (others === undefined && !hw?.links) {
    if (doc.cluster.target === 'production')
      c.error(
        at(),
        `missing otherLinks: list the machine's other physical ports (talosctl get links --insecure shows them), or otherLinks: [] when it has none; Talos runs DHCP on every other port with a carrier, which then gets an address and a default route beside ${linkRefText(net.link)}`,
      )
    return
  }
  const seen: string[] = []
  ;(others ?? []).forEach((l, k) => {
    checkLinkRef(c, at('otherLinks', k), l)
    const text = linkRefText(l)
    if (text === linkRefText(net.link)) c.error(at('otherLinks', k), `${text} is network.link itself`)
    else if (seen.includes(text)) c.error(at('otherLinks', k), `${text} is listed twice`)
    seen.push(text)
  })
  if (!hw?.links) return
  // on known hardware: each reference is one port of the machine, and no physical port is left unnamed
  const refs: [LinkRef, PathSeg[]][] = [
    [net.link, at('link')],
    ...(others ?? []).map((l, k) => [l, at('otherLinks', k)] as [LinkRef, PathSeg[]]),
  ]
  for (const [l, p] of refs)
    if (!hw.links.some((port) => linkRefMatches(l, port)))
      c.error(
        p,
        `${linkRefText(l)} is no port of ${n.name} (ports: ${hw.links.map((x) => `${x.name} ${x.mac} ${x.busPath}`).join(', ')})`,
      )
  const unnamed = hw.links.filter((port) => !refs.some(([l]) => linkRefMatches(l, port)))
  const ports = unnamed.map((x) => `${x.name} (mac ${x.mac}, busPath ${x.busPath})`).join(', ')
  if (unnamed.length)
    c.error(
      others ? at('otherLinks') : at(),
      `${others ? 'misses' : 'has no otherLinks for'} ${ports}, ${unnamed.length > 1 ? 'ports' : 'a port'} of ${n.name}: Talos would run DHCP on ${unnamed.length > 1 ? 'them' : 'it'} and take an address and a default route there; list ${unnamed.length > 1 ? 'them' : 'it'} in otherLinks`,
    )
}

function checkCluster(c: Collector, doc: Obj) {
  const cl: Obj = doc.cluster
  if (!DNS1123_LABEL.test(cl.name))
    c.error(
      ['cluster', 'name'],
      `must be a DNS-1123 label (lowercase letters, digits, "-", ≤ 63 chars) ${got(cl.name)}`,
    )
  let url: URL | undefined
  try {
    url = new URL(cl.endpoint)
  } catch {
    /* reported below */
  }
  // a URL's userinfo is a credential: never accepted, never echoed (the endpoint is printed in every banner)
  const shown = withoutUserinfo(cl.endpoint)
  if (url && (url.username || url.password))
    c.error(
      ['cluster', 'endpoint'],
      `must not contain credentials (user:password@): the Kubernetes API is reached with the kubeconfig's client certificate; remove them ${got(shown)}`,
    )
  else if (
    !url ||
    url.protocol !== 'https:' ||
    !url.port ||
    url.pathname !== '/' ||
    url.search ||
    url.hash ||
    !isHostAddress(url.hostname.replace(/^\[|\]$/g, ''))
  )
    c.error(['cluster', 'endpoint'], `must be https://<host>:<port> (e.g. https://10.20.0.10:6443) ${got(shown)}`)
  if (cl.vip !== undefined && isIP(cl.vip) === 0)
    c.error(['cluster', 'vip'], `must be an IPv4 or IPv6 address ${got(cl.vip)}`)
  if (url && cl.vip !== undefined && url.hostname.replace(/^\[|\]$/g, '') !== cl.vip && isIP(url.hostname) !== 0)
    c.warn(
      ['cluster', 'endpoint'],
      `endpoint host ${url.hostname} is not the VIP ${cl.vip}: the API is only highly available through the VIP`,
    )
  if (!/^v1\.10\.[0-9]+$/.test(cl.talosVersion))
    c.error(['cluster', 'talosVersion'], `this project renders Talos v1.10 machine configs ${got(cl.talosVersion)}`)
  const k8s = kubernetesVersionProblem(cl.kubernetesVersion)
  if (k8s) c.error(['cluster', 'kubernetesVersion'], k8s)
  if (typeof cl.installerImage === 'string')
    checkInstallerImage(c, ['cluster', 'installerImage'], cl.installerImage, cl.talosVersion)
  checkImageFactory(c, cl)
  if (typeof doc.validator?.installerImage === 'string')
    checkInstallerImage(c, ['validator', 'installerImage'], doc.validator.installerImage, cl.talosVersion)
  shellSafe(c, ['cluster', 'outputDir'], cl.outputDir)
  const outDirProblem = outputDirProblem(cl.outputDir)
  if (outDirProblem) c.error(['cluster', 'outputDir'], `${outDirProblem} ${got(cl.outputDir)}`)
  if (cl.nodeSubnet !== undefined && !parseCidr(cl.nodeSubnet))
    c.error(['cluster', 'nodeSubnet'], `must be a subnet in CIDR form such as 10.20.0.0/24 ${got(cl.nodeSubnet)}`)
}

/**
 * Kubernetes versions Talos v1.10 runs: from MinimumKubernetesVersion 1.28.0 up to (not including)
 * MaximumKubernetesVersion 1.33.99 (talos v1.10.3 pkg/machinery/compatibility/talos110/talos110.go, compared in
 * kubernetes_version.go SupportedWith), i.e. 1.28 … 1.33 as website/content/v1.10/introduction/support-matrix.md lists.
 */
const TALOS_V110_KUBERNETES = { min: [1, 28, 0], below: [1, 33, 99] } as const

/** Why Talos v1.10 refuses this Kubernetes version ("v1.33.1"), or undefined when it supports it. */
export function kubernetesVersionProblem(version: string): string | undefined {
  const m = /^v?([0-9]+)\.([0-9]+)\.([0-9]+)$/.exec(version)
  if (!m) return undefined // the schema reports the format
  const v = [Number(m[1]), Number(m[2]), Number(m[3])]
  const cmp = (a: readonly number[], b: readonly number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!
  const range =
    'Talos v1.10 supports Kubernetes v1.28.0 to v1.33.x (its support matrix, pkg/machinery/compatibility/talos110)'
  if (cmp(v, TALOS_V110_KUBERNETES.min) < 0) return `${range}: ${version} is too old`
  if (cmp(v, TALOS_V110_KUBERNETES.below) >= 0) return `${range}: ${version} is too new`
  return undefined
}

/**
 * Generated secrets go to outputDir; a relative one is taken from the repo root, and must stay below it (where
 * .gitignore keeps out/ and nothing else is overwritten). An absolute path is the operator's explicit choice.
 */
export function outputDirProblem(dir: string): string | undefined {
  if (isAbsolute(dir)) return undefined
  const n = normalize(dir)
  if (n === '.' || n === './')
    return 'must be a directory below the repository (e.g. out/<cluster>), not the repository itself'
  if (n === '..' || n.startsWith('../'))
    return 'a relative outputDir must stay inside the repository (it is resolved from the repository root); give an absolute path to write elsewhere'
  return undefined
}

/** The text with any URL's `user:password@` replaced: what an error may quote of a URL. */
const withoutUserinfo = (v: unknown) =>
  typeof v === 'string' ? v.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1<redacted>@') : v

/** A private key pasted where its path belongs. */
const looksLikeKeyMaterial = (v: unknown) =>
  typeof v === 'string' && (/PRIVATE KEY|-----BEGIN/.test(v) || /[\r\n]/.test(v))

/**
 * The factory's images are written to disks and booted: in production they come over TLS only (a lab's loopback
 * factory speaks plain HTTP).
 */
function checkImageFactory(c: Collector, cl: Obj) {
  if (typeof cl.imageFactory !== 'string') return
  const shown = withoutUserinfo(cl.imageFactory)
  if (shown !== cl.imageFactory)
    c.error(['cluster', 'imageFactory'], `must not contain credentials (user:password@) ${got(shown)}`)
  else if (cl.target === 'production' && !cl.imageFactory.startsWith('https://'))
    c.error(
      ['cluster', 'imageFactory'],
      `must be https:// in production: the images it serves are written to disks and booted ${got(shown)}`,
    )
}

function checkInstallerImage(c: Collector, path: PathSeg[], image: string, talosVersion: string) {
  shellSafe(c, path, image)
  const digest = /@sha256:[0-9a-f]{64}$/.exec(image)?.[0]
  const tag = /:([^:/@]+)$/.exec(digest ? image.slice(0, -digest.length) : image)?.[1]
  // Without a tag (or digest) the installer is whatever `latest` is on the day of the install.
  if (!tag && !digest) c.error(path, `needs a tag matching talosVersion (…:${talosVersion}) ${got(image)}`)
  // 09 reads the version an image installs from its tag: v1.10.3, or a custom build's custom-solana-v1.10.3
  const version = tag && parseInstallerImage(image).version
  if (tag && version !== talosVersion)
    c.error(
      path,
      `image tag ${tag} does not match talosVersion ${talosVersion} (the tag must be it, or end in -${talosVersion})`,
    )
}

function checkRescue(c: Collector, base: PathSeg[], r: Obj | undefined) {
  if (!r) return
  if (r.host !== undefined && !isHostAddress(r.host))
    c.error([...base, 'host'], `must be an IPv4 or IPv6 address or DNS name ${got(r.host)}`)
  if (looksLikeKeyMaterial(r.keyFile))
    c.error(
      [...base, 'keyFile'],
      'must be the path to the private key file, not the key itself (the value looks like key material and is not shown); put the key in a 0600 file and give its path',
    )
  else shellSafe(c, [...base, 'keyFile'], r.keyFile)
  for (const k of ['user', 'hostKeyFingerprint']) shellSafe(c, [...base, k], r[k])
  shellSafe(c, [...base, 'imageUrl'], withoutUserinfo(r.imageUrl))
  if (typeof r.imageUrl === 'string' && withoutUserinfo(r.imageUrl) !== r.imageUrl)
    c.error([...base, 'imageUrl'], `must not contain credentials (user:password@) ${got(withoutUserinfo(r.imageUrl))}`)
  if (typeof r.user === 'string' && !/^[a-z_][a-z0-9_-]*$/.test(r.user))
    c.error([...base, 'user'], `must be a Unix user name ${got(r.user)}`)
}

function checkBmc(c: Collector, base: PathSeg[], b: Obj | undefined) {
  if (!b) return
  if (!isHostAddress(b.address))
    c.error([...base, 'address'], `must be an IPv4 or IPv6 address or DNS name ${got(b.address)}`)
  for (const k of ['username', 'passwordFile']) shellSafe(c, [...base, k], b[k])
}

function checkNodes(c: Collector, doc: Obj, nodes: InventoryNode[], hardware: HardwareLookup | undefined) {
  const raw = doc.nodes as Obj[]
  const seenName = new Map<string, number>()
  const seenAddr = new Map<string, number>()
  raw.forEach((n, i) => {
    const at = (...p: PathSeg[]) => ['nodes', i, ...p]
    if (!DNS1123_LABEL.test(n.name))
      c.error(at('name'), `must be a DNS-1123 label (lowercase letters, digits, "-", ≤ 63 chars) ${got(n.name)}`)
    if (!isHostAddress(n.address))
      c.error(at('address'), `must be an IPv4 or IPv6 address or DNS name ${got(n.address)}`)
    if (!DISK_PATH.test(n.installDisk))
      c.error(at('installDisk'), `must be a disk path matching ^/dev/[a-z0-9/_-]+$ ${got(n.installDisk)}`)
    else {
      const part = partitionOf(n.installDisk)
      if (part) c.error(at('installDisk'), `${partitionInstallDiskMessage(n.installDisk, part)}: use ${part.disk}`)
    }
    if (seenName.has(n.name))
      c.error(at('name'), `duplicate node name "${n.name}" (also nodes[${seenName.get(n.name)}])`)
    else seenName.set(n.name, i)
    if (seenAddr.has(n.address))
      c.error(at('address'), `duplicate address ${n.address} (also nodes[${seenAddr.get(n.address)}])`)
    else seenAddr.set(n.address, i)
    checkRescue(c, at('rescue'), n.rescue)
    checkBmc(c, at('bmc'), n.bmc)
    const merged = nodes[i].rescue
    if (!merged.keyFile) c.error(at('rescue'), 'missing rescue.keyFile (set it on the node or in defaults.rescue)')
    if (doc.cluster.target === 'production' && merged.imageUrl?.startsWith('http://'))
      c.error(
        at('rescue'),
        `rescue.imageUrl must be file:// or https:// in production: the image is written to ${n.name}'s disk and booted ${got(withoutUserinfo(merged.imageUrl))}`,
      )
    if (doc.cluster.target === 'production' && n.lab)
      c.error(at('lab'), 'a production inventory must not have lab: blocks (lab hardware is simulated)')
  })
  checkRescue(c, ['defaults', 'rescue'], doc.defaults?.rescue)
  raw.forEach((n, i) => checkNodeNetwork(c, doc, n, i))
  raw.forEach((n, i) => checkOtherLinks(c, doc, n, i, n.network && hardware ? hardware(n.name) : undefined))

  const cps = raw.filter((n) => n.role === 'controlplane').length
  if (cps === 0) c.error(['nodes'], 'no controlplane node: a cluster needs 1, 3 or 5 control-plane nodes')
  else if (cps % 2 === 0)
    c.error(
      ['nodes'],
      `${cps} control-plane nodes: etcd needs an odd number (3 tolerates one failure, ${cps} tolerates no more than ${cps - 1})`,
    )
  else if (cps !== 3) c.warn(['nodes'], `${cps} control-plane node(s): 3 is the usual choice (one may fail)`)
}

/**
 * "The Virtual IP should be a reserved, unused IP address in the same subnet as your controlplane nodes"
 * (talos v1.10.3 website/content/v1.10/talos-guides/network/vip.md): a node's own address as the VIP would be taken
 * over by whichever control plane wins the election. Without cluster.nodeSubnet the subnet is not known, so
 * only the address family is compared.
 */
function checkVip(c: Collector, doc: Obj) {
  const cl: Obj = doc.cluster
  const raw = doc.nodes as Obj[]
  // a malformed nodeSubnet is reported by checkCluster
  const subnet: string | undefined = cl.nodeSubnet !== undefined && parseCidr(cl.nodeSubnet) ? cl.nodeSubnet : undefined
  const cps = raw.map((n, i) => ({ n, i })).filter(({ n }) => n.role === 'controlplane' && isIP(n.address) !== 0)
  if (subnet)
    for (const { n, i } of cps)
      if (!inSubnet(n.address, subnet))
        c.error(
          ['nodes', i, 'address'],
          `control-plane node ${n.name} is outside cluster.nodeSubnet ${subnet} ${got(n.address)}`,
        )
  if (cl.vip === undefined || isIP(cl.vip) === 0) return
  const owner = raw.findIndex((n) => n.address === cl.vip)
  if (owner >= 0)
    c.error(
      ['cluster', 'vip'],
      `${cl.vip} is the address of ${raw[owner]!.name} (nodes[${owner}]): the VIP must be an unused address in the control-plane nodes' subnet (Talos docs: Virtual (shared) IP)`,
    )
  if (subnet) {
    if (!inSubnet(cl.vip, subnet))
      c.error(
        ['cluster', 'vip'],
        `${cl.vip} is outside cluster.nodeSubnet ${subnet}: the VIP must be in the control-plane nodes' subnet (Talos docs: Virtual (shared) IP)`,
      )
    else if (networkAndBroadcast(subnet).includes(cl.vip))
      c.error(
        ['cluster', 'vip'],
        `${cl.vip} is the network or broadcast address of ${subnet}: choose an unused host address`,
      )
  } else if (cps.length && cps.every(({ n }) => isIP(n.address) !== isIP(cl.vip)))
    c.error(
      ['cluster', 'vip'],
      `${cl.vip} is IPv${isIP(cl.vip)} but the control-plane nodes are IPv${isIP(cps[0]!.n.address)}: the VIP must be in their subnet (Talos docs: Virtual (shared) IP)`,
    )
}

/** The IPv4 network and broadcast addresses of a subnet: never a usable host address (none for IPv6, /31, /32). */
export function networkAndBroadcast(cidr: string): string[] {
  const p = parseCidr(cidr)
  if (!p || isIP(p.ip) !== 4 || p.bits > 30) return []
  const size = 1n << BigInt(32 - p.bits)
  const net = (ipBits(p.ip) / size) * size
  const dotted = (x: bigint) => [24n, 16n, 8n, 0n].map((sh) => String((x >> sh) & 255n)).join('.')
  return [dotted(net), dotted(net + size - 1n)]
}

/**
 * With reservedSystemCPUs, kubelet v1.33 overwrites systemReserved.cpu with the number of reserved CPUs and deletes
 * kubeReserved.cpu before computing node allocatable (kubernetes v1.33.1 cmd/kubelet/app/server.go:794-804; the flag's
 * help, cmd/kubelet/app/options/options.go:495: "will supersede cpu counts in --system-reserved and --kube-reserved").
 * kubelet only logs it, so on a node nothing says the value is dead. An error, not a warning: the inventory is the
 * record of what the node reserves, and a cpu here states a reservation the node never has (kubelet reserves the
 * reserved CPUs' count instead); the fix is deleting one key. Without reservedSystemCpus the values are live.
 */
function checkDeadCpuReservations(c: Collector, v: Obj) {
  const cpus: unknown = v.reservedSystemCpus
  const count = typeof cpus === 'string' && cpus.trim() ? expandCpuset(cpus).length : 0
  if (!count) return
  for (const map of ['systemReserved', 'kubeReserved'] as const)
    if (v[map]?.cpu !== undefined)
      c.error(
        ['validator', map, 'cpu'],
        `kubelet ignores it: with reservedSystemCpus ${JSON.stringify(cpus)} it sets systemReserved.cpu to the number of reserved CPUs (${count}) and deletes kubeReserved.cpu (kubernetes v1.33 cmd/kubelet/app/server.go); remove cpu from ${map}, the reserved CPUs are the CPU reservation ${got(v[map].cpu)}`,
      )
}

function checkValidator(c: Collector, doc: Obj, hardware: HardwareLookup | undefined) {
  const raw = doc.nodes as Obj[]
  const vIdx = raw.map((n, i) => (n.profile === 'validator' ? i : -1)).filter((i) => i >= 0)
  const v: Obj | undefined = doc.validator
  if (!v) {
    for (const i of vIdx) c.error(['nodes', i, 'profile'], 'profile: validator needs a top-level validator: section')
    return
  }
  if (vIdx.length !== 1)
    c.error(
      vIdx.length ? ['nodes', vIdx[1], 'profile'] : ['validator'],
      `exactly one node must have profile: validator (found ${vIdx.length})`,
    )
  for (const i of vIdx)
    if (raw[i].role !== 'worker')
      c.error(
        ['nodes', i, 'role'],
        'the validator node must be a worker (control-plane nodes run etcd and the API server)',
      )

  const V = (...p: PathSeg[]) => ['validator', ...p]
  const cpusetProblem = cpusetError(v.reservedSystemCpus ?? '')
  if (cpusetProblem) c.error(V('reservedSystemCpus'), `${cpusetProblem} ${got(v.reservedSystemCpus)}`)
  if (v.cpuManagerPolicy === 'static' && !(v.reservedSystemCpus ?? '').trim())
    c.error(V('reservedSystemCpus'), 'the static CPU manager needs reserved CPUs: set reservedSystemCpus (e.g. "0,1")')
  if (!cpusetProblem) checkDeadCpuReservations(c, v)
  // irqaffinity= always adds the boot CPU (kernel/irq/irqdesc.c irq_affinity_setup), so device IRQs may land on CPU 0
  const reserved = cpusetProblem ? [] : expandCpuset(v.reservedSystemCpus ?? '')
  if (reserved.length && !reserved.includes(0))
    c.warn(
      V('reservedSystemCpus'),
      `does not reserve CPU 0: the validator boots with irqaffinity=${v.reservedSystemCpus}, and the kernel adds the boot CPU (CPU 0) to it, so device interrupts can land on the validator's CPU 0 (checks/cpu.ts cpu.irq-affinity fails); reserve CPU 0 and its thread sibling`,
    )
  if (v.topologyManagerPolicy && v.topologyManagerPolicy !== 'none' && v.cpuManagerPolicy !== 'static')
    c.warn(
      V('topologyManagerPolicy'),
      `topology manager ${v.topologyManagerPolicy} aligns no CPUs without cpuManagerPolicy: static (only the CPU manager's static policy gives CPU hints; memory and devices alone would be aligned)`,
    )

  // kubelet's Static memory manager refuses to start unless per-NUMA reservedMemory adds up exactly to
  // systemReserved + kubeReserved + the hard eviction threshold (memory).
  if (v.reservedMemory?.length) {
    const sum = (v.reservedMemory as Obj[]).reduce((a, r) => a + quantityOrNaN(r.memory), 0)
    const evict = v.evictionHard?.['memory.available'] ?? '100Mi'
    const want =
      quantityOrNaN(v.systemReserved?.memory ?? '0') +
      quantityOrNaN(v.kubeReserved?.memory ?? '0') +
      (evict.endsWith('%') ? NaN : quantityOrNaN(evict))
    if (Number.isFinite(sum) && Number.isFinite(want) && Math.abs(sum - want) >= 1)
      c.error(
        V('reservedMemory'),
        `must add up to systemReserved.memory + kubeReserved.memory + evictionHard["memory.available"] = ${mib(want)} (kubelet's Static memory manager refuses anything else); it adds up to ${mib(sum)}`,
      )
    const nodes = new Set<number>()
    ;(v.reservedMemory as Obj[]).forEach((r, i) => {
      if (nodes.has(r.numaNode)) c.error(V('reservedMemory', i, 'numaNode'), `NUMA node ${r.numaNode} listed twice`)
      nodes.add(r.numaNode)
    })
  }

  for (const [k, val] of Object.entries((v.sysctls ?? {}) as Obj)) {
    if (!SYSCTL_KEY.test(k)) c.error(V('sysctls', k), `not a sysctl name ${got(k)}`)
    if (typeof val === 'string' && /[\n\r\0]/.test(val)) c.error(V('sysctls', k), 'sysctl value must be a single line')
    else if (typeof val === 'string') {
      // the kernel's range first, then kubelet's own requirement (lib/host/sysctl-values.ts KUBELET_REQUIRED)
      const problem = sysctlValueProblem(k, val) ?? kubeletSysctlProblem(k, val)
      if (problem) c.error(V('sysctls', k), problem)
    }
  }
  ;((v.kernelModules ?? []) as string[]).forEach((m, i) => {
    if (!MODULE_NAME.test(m)) c.error(V('kernelModules', i), `not a kernel module name ${got(m)}`)
  })
  ;((v.kernelArgs ?? []) as string[]).forEach((a, i) => {
    if (!KERNEL_ARG.test(a))
      c.error(
        V('kernelArgs', i),
        `not a kernel argument (name or name=value, no spaces or shell metacharacters) ${got(a)}`,
      )
    else if (/^(default_)?hugepage(s|sz)=/.test(a))
      c.error(V('kernelArgs', i), `hugepage arguments are derived from validator.hugepages; remove ${a}`)
    else if (derivedCpuArg(a)) c.error(V('kernelArgs', i), `${derivedCpuArg(a)}; remove ${a}`)
    else {
      const dead = kernelArgWithoutEffect(a)
      if (dead) c.warn(V('kernelArgs', i), dead)
    }
  })

  const names = new Set<string>()
  ;((v.storage ?? []) as Obj[]).forEach((s, i) => {
    const S = (...p: PathSeg[]) => V('storage', i, ...p)
    // The partition label is "u-<name>" within GPT's 36 characters.
    if (!/^[a-z0-9]([-a-z0-9]{0,32}[a-z0-9])?$/.test(s.name))
      c.error(
        S('name'),
        `must be lowercase letters, digits and "-", at most 34 characters (Talos labels the partition u-<name>) ${got(s.name)}`,
      )
    if (names.has(s.name)) c.error(S('name'), `duplicate volume name "${s.name}"`)
    names.add(s.name)
    if (s.mountPoint !== `/var/mnt/${s.name}`)
      c.error(S('mountPoint'), `Talos v1.10 mounts user volume "${s.name}" at /var/mnt/${s.name} ${got(s.mountPoint)}`)
    else if (typeof s.dataDir === 'string') {
      const problem = dataDirProblem(s.dataDir, s.mountPoint)
      if (problem) c.error(S('dataDir'), `${problem} ${got(s.dataDir)}`)
    }
    if (s.minSize && s.maxSize && parseByteSize(s.minSize) > parseByteSize(s.maxSize))
      c.error(S('maxSize'), `is smaller than minSize ${s.minSize} ${got(s.maxSize)}`)
    if (!s.minSize && !s.maxSize) c.error(S(), 'needs minSize or maxSize (Talos requires one to provision the volume)')
    checkVolumeDisk(c, s, S)
  })
  checkVolumeDisksDistinct(c, (v.storage ?? []) as Obj[])

  for (const [k, val] of Object.entries((v.labels ?? {}) as Obj)) {
    if (!isLabelKey(k)) c.error(V('labels', k), `not a valid Kubernetes label key ${got(k)}`)
    if (typeof val === 'string' && !isLabelValue(val))
      c.error(
        V('labels', k),
        `not a valid Kubernetes label value (≤ 63 chars, alphanumerics, "-", "_", ".") ${got(val)}`,
      )
  }
  ;((v.taints ?? []) as Obj[]).forEach((t, i) => {
    if (typeof t.key === 'string' && !isLabelKey(t.key))
      c.error(V('taints', i, 'key'), `not a valid taint key ${got(t.key)}`)
    if (typeof t.value === 'string' && !isLabelValue(t.value))
      c.error(V('taints', i, 'value'), `not a valid taint value ${got(t.value)}`)
  })

  // the facts of the validator's machine, when the caller knows them (the lab does; see HardwareLookup)
  const node = vIdx.length === 1 ? raw[vIdx[0]] : undefined
  const hw = node?.name && hardware ? hardware(node.name) : undefined
  checkHugepageSizesDistinct(c, v.hugepages as HugepagesInput)
  checkPodFitsOneNumaNode(c, normalizedValidator(v), v.pod, hw, cpusetProblem)
  checkTopologyNumaLimit(c, v, hw)
  if (hw?.disks) checkVolumeDisksOnHardware(c, (v.storage ?? []) as Obj[], hw.disks, node!)
  if (v.nic && node)
    for (const p of nicProblems(v.nic, ['nodes', vIdx[0]!], node.network?.link, hw?.links)) c.error(p.path, p.message)

  if (hw && !cpusetProblem) {
    const numa = hw.numaMemoryMiB.length
    checkHugepagesFitNuma(c, v.hugepages as HugepagesInput, hw, node!.name)
    ;((v.reservedMemory ?? []) as Obj[]).forEach((r, i) => {
      if (r.numaNode >= numa)
        c.error(V('reservedMemory', i, 'numaNode'), `${node!.name} has NUMA nodes 0..${numa - 1} ${got(r.numaNode)}`)
    })
    const cpus = hw.numaCpus.flat().length
    const reserved = expandCpuset(v.reservedSystemCpus ?? '')
    const missing = reserved.find((cpu) => cpu >= cpus)
    if (missing !== undefined)
      c.error(V('reservedSystemCpus'), `CPU ${missing} does not exist on ${node!.name} (${cpus} CPUs)`)
    else {
      // nosmt, maxcpus=, nr_cpus= in validator.kernelArgs: a reserved CPU they leave offline lets kubelet start once per
      // boot and fail every later start (steps/09-upgrade/plan.ts reservedCpusOfflineProblem, which 09 judges on the
      // machine itself); a core is then its online threads
      const present = hw.numaCpus.flat()
      const siblings = new Map(present.map((c) => [c, hw.threadSiblings?.find((core) => core.includes(c)) ?? [c]]))
      const offline = offlineAfterBoot(present, (v.kernelArgs ?? []) as string[], { present, siblings })
      for (const o of offline.filter((o) => reserved.includes(o.cpu)))
        c.error(
          V('reservedSystemCpus'),
          `CPU ${o.cpu} is offline in a boot with validator.kernelArgs (${o.why}): kubelet would start once per boot and fail every later start (not all reserved cpus … are present in defaultCpuSet); reserve only CPUs that stay online`,
        )
      const down = new Set(offline.map((o) => o.cpu))
      const onlineCores = hw.threadSiblings
        ?.map((core) => core.filter((c) => !down.has(c)))
        .filter((core) => core.length)
      const up = reserved.filter((c) => !down.has(c))
      const split = splitCores(up, onlineCores)
      if (split.length)
        c.error(
          V('reservedSystemCpus'),
          `${split.join('; ')}: reserve whole cores, e.g. ${JSON.stringify(wholeCores(up, onlineCores!))} (with full-pcpus-only the CPU manager hands out whole cores only, and the unreserved thread of a split core is neither the system's nor any pod's)`,
        )
    }
  }
}

/**
 * A volume names its disk with `disk:` (serial, wwid or a size range). The old free-form `diskSelector` is refused: a
 * CEL expression such as `disk.transport == "nvme" && disk.size >= 1900u * GB` also matches a larger accounts drive,
 * and Talos puts the volume on the first matching disk with room (locate.go:90-128), which may be that one.
 */
function checkVolumeDisk(c: Collector, s: Obj, S: (...p: PathSeg[]) => PathSeg[]) {
  if (s.diskSelector !== undefined) {
    const serial = /^\s*disk\.serial\s*==\s*["']([^"'\\]+)["']\s*$/.exec(String(s.diskSelector))?.[1]
    c.error(
      S('diskSelector'),
      `is replaced by disk: a CEL selector can match more than one disk, and Talos puts the volume on the first match with room (another volume's disk when it sorts first); name the one disk: ${serial ? `disk: { serial: ${serial} }` : "disk: { serial: … } or { wwid: … } (talosctl get disks shows both), or disk: { size: { min: …, max: … } } that no other volume's range overlaps"}`,
    )
    return
  }
  if (s.disk === undefined) {
    c.error(S(), 'missing required field "disk" (serial, wwid or size: the one disk this volume goes on)')
    return
  }
  const d = s.disk as VolumeDisk
  const keys = givenKeys(d)
  if (keys.length !== 1) {
    c.error(S('disk'), `give exactly one of serial, wwid, size (got ${keys.length ? keys.join(', ') : 'none'})`)
    return
  }
  for (const k of ['serial', 'wwid'] as const)
    if (d[k] !== undefined && !diskIdSafe(d[k]!))
      c.error(
        S('disk', k),
        `must be the disk's ${k} as talosctl get disks prints it (printable ASCII, no quotes or backslashes) ${got(d[k])}`,
      )
  if (d.size) {
    const [min, max] = sizeRange(d.size)
    if (min > max) c.error(S('disk', 'size', 'max'), `is smaller than min ${d.size.min} ${got(d.size.max)}`)
    const need = s.minSize ? parseByteSize(s.minSize) : 0
    if (max < need)
      c.error(S('disk', 'size', 'max'), `a disk of at most ${d.size.max} cannot hold minSize ${s.minSize}`)
  }
}

/** No two volumes may name disks that can be one disk (same serial or WWID, overlapping size ranges). */
function checkVolumeDisksDistinct(c: Collector, storage: Obj[]) {
  storage.forEach((s, i) => {
    if (!s.disk || givenKeys(s.disk).length !== 1) return
    const j = storage.findIndex(
      (o, k) => k < i && o.disk && givenKeys(o.disk).length === 1 && disksMayCoincide(o.disk, s.disk),
    )
    if (j >= 0)
      c.error(
        ['validator', 'storage', i, 'disk'],
        `${describeVolumeDisk(s.disk)} can be the same disk as ${storage[j]!.name}'s ${describeVolumeDisk(storage[j]!.disk)}: Talos would put both volumes on it; name two different disks`,
      )
  })
}

/**
 * On known hardware (the lab's machines): each volume's disk matches exactly one disk of the validator, never its
 * install disk, and no disk is named by two volumes.
 */
function checkVolumeDisksOnHardware(c: Collector, storage: Obj[], disks: KnownDisk[], node: Obj) {
  const owner = new Map<string, string>()
  storage.forEach((s, i) => {
    if (!s.disk || givenKeys(s.disk).length !== 1) return
    const d = s.disk as VolumeDisk
    const at: PathSeg[] = ['validator', 'storage', i, 'disk']
    const hits = disks.filter((x) => volumeDiskMatches(d, x, x.dev === node.installDisk))
    const list = disks
      .map((x) => `${x.dev} (serial ${x.serial || '-'}, ${(x.sizeBytes / 1e9).toFixed(0)} GB)`)
      .join(', ')
    if (hits.length !== 1) {
      c.error(
        at,
        `${describeVolumeDisk(d)} matches ${hits.length ? hits.map((x) => x.dev).join(' and ') : 'no disk'} of ${node.name}; it must match exactly one (disks: ${list})`,
      )
      return
    }
    const dev = hits[0]!.dev
    if (dev === node.installDisk)
      c.error(at, `${describeVolumeDisk(d)} is ${node.name}'s install disk ${dev}: give the volume its own disk`)
    const other = owner.get(dev)
    if (other) c.error(at, `${describeVolumeDisk(d)} is ${dev}, which ${other} already names`)
    owner.set(dev, s.name)
  })
}

/** Where pool `p` is written: validator.hugepages (the one-pool form) or validator.hugepages[i]. */
const poolPath = (raw: HugepagesInput, p: HugepagePool, ...rest: PathSeg[]): PathSeg[] =>
  Array.isArray(raw) ? ['validator', 'hugepages', raw.indexOf(p), ...rest] : ['validator', 'hugepages', ...rest]

/** One pool per page size: the kernel takes one hugepages= per size and ignores a second (mm/hugetlb.c). */
function checkHugepageSizesDistinct(c: Collector, raw: HugepagesInput) {
  if (!Array.isArray(raw)) return
  raw.forEach((p, i) => {
    if (raw.findIndex((q) => q.size === p.size) < i)
      c.error(['validator', 'hugepages', i, 'size'], `${p.size} is listed twice: give each page size one pool`)
  })
}

/**
 * Huge pages of every size must fit the validator's memory, per NUMA node: the kernel allocates them per node at
 * boot, and what does not fit is not reserved ("HugeTLB: allocating N of page size … failed nodeX. Only allocated M
 * hugepages.", mm/hugetlb.c). It allocates the 1 GiB pool first (early in boot, from memblock) and the 2 MiB pool
 * later (hugetlb_init, a subsys_initcall), so the smaller pool is the one that comes up short: the error names it.
 */
function checkHugepagesFitNuma(c: Collector, raw: HugepagesInput, hw: HardwareFacts, nodeName: string) {
  const pools = hugepagePools(raw)
  const numa = hw.numaMemoryMiB.length
  for (const p of pools)
    if (p.perNumaNode.length > numa)
      c.error(poolPath(raw, p, 'perNumaNode'), `lists ${p.perNumaNode.length} NUMA nodes; ${nodeName} has ${numa}`)
  hw.numaMemoryMiB.forEach((have, i) => {
    const on = pools.filter((p) => (p.perNumaNode[i] ?? 0) > 0)
    const need = on.reduce((a, p) => a + p.perNumaNode[i]! * hugepageBytes(p.size), 0) / 2 ** 20
    if (!on.length || need <= have) return
    const terms = on.map((p) => `${p.perNumaNode[i]} × ${p.size}`).join(' + ')
    const last = on[on.length - 1]!
    const short =
      on.length > 1 ? ` (the kernel reserves the larger pages first: the ${last.size} pool would come up short)` : ''
    c.error(
      poolPath(raw, last, 'perNumaNode', i),
      `${terms} = ${need} MiB does not fit NUMA node ${i} of ${nodeName}, which has ${have} MiB${short}`,
    )
  })
}

const mib = (b: number) => `${Math.round(b / 2 ** 20)}Mi`
const gib = (b: number) => `${+(b / 2 ** 30).toFixed(2)}Gi`

/**
 * kubelet v1.33.1 refuses to start with a topology manager policy other than none on a machine with more than 8 NUMA
 * nodes: pkg/kubelet/cm/topologymanager/topology_manager.go :40 defaultMaxAllowableNUMANodes = 8, :154-155 "unsupported
 * on machines with more than %v NUMA Nodes", unless topologyManagerPolicyOptions max-allowable-numa-nodes raises it
 * (policy_options.go :31, :37 beta, on by default since 1.28), which the inventory has no field for. The inventory
 * knows a lower bound of the count (hugepages perNumaNode, reservedMemory numaNode); the lab knows it exactly.
 */
function checkTopologyNumaLimit(c: Collector, v: Obj, hw: HardwareFacts | undefined) {
  const policy = v.topologyManagerPolicy
  if (!policy || policy === 'none') return
  const pools = normalizedValidator(v).hugepages
  const fromReserved = Math.max(0, ...((v.reservedMemory ?? []) as Obj[]).map((r) => Number(r.numaNode) + 1))
  const fromPools = Math.max(0, ...pools.map((p) => p.perNumaNode.length))
  const nodes = hw ? hw.numaMemoryMiB.length : Math.max(fromReserved, fromPools)
  if (!(nodes > 8)) return
  const how = hw
    ? `the machine has ${nodes} NUMA nodes`
    : `the inventory names at least ${nodes} NUMA nodes (hugepages perNumaNode, reservedMemory)`
  c.error(
    ['validator', 'topologyManagerPolicy'],
    `${how}: kubelet v1.33.1 refuses to start with topologyManagerPolicy ${policy} on more than 8 ("unsupported on machines with more than 8 NUMA Nodes", pkg/kubelet/cm/topologymanager/topology_manager.go:155); the max-allowable-numa-nodes option that raises the limit has no inventory field: set the firmware to at most 8 NUMA nodes per machine (e.g. NPS1/NPS2) or topologyManagerPolicy: none`,
  )
}

/**
 * With topologyManagerPolicy single-numa-node, a Guaranteed container's CPUs, memory and hugepages must all come
 * from ONE NUMA node, or kubelet rejects the pod with TopologyAffinityError (kubernetes docs, topology-manager
 * "single-numa-node"; memory-manager: the Static policy places memory and hugepages per NUMA node). What one node
 * offers: its CPUs minus reservedSystemCpus on it, its memory minus its huge pages and reservedMemory, its huge pages.
 * Hardware facts come from the lab's profiles; without them only the huge pages (known from the inventory) are judged.
 * With full-pcpus-only (rendered for the static policy), a CPU count that is not a multiple of the threads per core
 * is rejected with SMTAlignmentError (kubernetes pkg/kubelet/cm/cpumanager/policy_static.go).
 */
function checkPodFitsOneNumaNode(
  c: Collector,
  v: ValidatorProfile,
  rawPod: Obj | undefined,
  hw: HardwareFacts | undefined,
  cpusetProblem: string | undefined,
) {
  const pod = v.pod
  if (!pod) return
  const P = (...p: PathSeg[]) => ['validator', 'pod', ...p]
  const hpPath = (size: string) => (typeof rawPod?.hugepages === 'string' ? P('hugepages') : P('hugepages', size))
  const wants = podHugepageWants(c, v, hpPath)
  if (v.topologyManagerPolicy !== 'single-numa-node') return
  const onNode = (w: HugepageWant, i: number) => (w.pool.perNumaNode[i] ?? 0) * hugepageBytes(w.pool.size)
  const nodes = hw ? hw.numaCpus.length : Math.max(0, ...v.hugepages.map((p) => p.perNumaNode.length))
  const ids = Array.from({ length: nodes }, (_, i) => i)
  if (!hw || cpusetProblem) {
    for (const w of wants)
      if (!ids.some((i) => onNode(w, i) >= w.bytes))
        c.warn(
          hpPath(w.pool.size),
          `${w.quantity} fits no single NUMA node: the most one node has is ${gib(Math.max(0, ...ids.map((i) => onNode(w, i))))} (hugepages.perNumaNode), and single-numa-node takes all of a container's huge pages from one node`,
        )
    return
  }
  const reserved = new Set(expandCpuset(v.reservedSystemCpus ?? ''))
  // kubelet sees only the CPUs online in the boot (nosmt, maxcpus=, nr_cpus= in validator.kernelArgs take some)
  const present = hw.numaCpus.flat()
  const siblings = new Map(present.map((x) => [x, hw.threadSiblings?.find((core) => core.includes(x)) ?? [x]]))
  const down = new Set(offlineAfterBoot(present, v.kernelArgs ?? [], { present, siblings }).map((o) => o.cpu))
  const allHuge = hugepageBytesPerNode(v.hugepages)
  const offers = hw.numaCpus.map((cpus, i) => {
    const memReserved = (v.reservedMemory ?? [])
      .filter((r) => r.numaNode === i)
      .reduce((a, r) => a + quantityOrNaN(r.memory), 0)
    return {
      node: i,
      cpus: cpus.filter((x) => !reserved.has(x) && !down.has(x)).length,
      memory: hw.numaMemoryMiB[i]! * 2 ** 20 - (allHuge[i] ?? 0) - memReserved,
      hugepages: v.hugepages.map((p) => ({ size: p.size, bytes: (p.perNumaNode[i] ?? 0) * hugepageBytes(p.size) })),
    }
  })
  const mem = quantityOrNaN(pod.memory)
  const fits = (o: (typeof offers)[number]) =>
    o.cpus >= pod.cpus && o.memory >= mem && wants.every((w) => onNode(w, o.node) >= w.bytes)
  const huge = (hp: { size: string; bytes: number }[]) =>
    hp.length === 1 ? gib(hp[0]!.bytes) : hp.map((h) => `${hugepageQuantity(h.bytes)} of ${h.size}`).join(' + ')
  if (!offers.some(fits))
    c.warn(
      P(),
      `cpus ${pod.cpus}, memory ${pod.memory}, hugepages ${wants.map((w) => (wants.length === 1 ? w.quantity : `${w.quantity} of ${w.pool.size}`)).join(' + ')} fit no single NUMA node (single-numa-node takes all three from one node; kubelet would reject the pod with TopologyAffinityError): ${offers.map((o) => `node ${o.node} offers ${o.cpus} CPUs, ${gib(Math.max(0, o.memory))} memory, ${huge(o.hugepages)} huge pages`).join('; ')}`,
    )
  // the threads per core kubelet counts: the online siblings of a core (1 under nosmt)
  const threads = hw.threadSiblings?.[0]?.filter((x) => !down.has(x)).length || 1
  if (v.cpuManagerPolicy === 'static' && pod.cpus % threads !== 0)
    c.warn(
      P('cpus'),
      `${pod.cpus} is not a multiple of the ${threads} threads per core: with full-pcpus-only kubelet rejects the pod (SMTAlignmentError)`,
    )
}

/** A size the pod asks for, with the pool that serves it. */
interface HugepageWant {
  pool: HugepagePool
  quantity: string
  bytes: number
}

/** The pod's hugepage requests, each of a size the inventory reserves and a whole number of its pages. */
function podHugepageWants(c: Collector, v: ValidatorProfile, at: (size: string) => PathSeg[]): HugepageWant[] {
  const wants: HugepageWant[] = []
  for (const [size, quantity] of Object.entries(v.pod!.hugepages)) {
    const pool = v.hugepages.find((p) => p.size === size)
    const bytes = quantityOrNaN(quantity!)
    if (!pool) c.error(at(size), `asks for ${size} pages, but validator.hugepages reserves none of that size`)
    else if (bytes % hugepageBytes(pool.size) !== 0)
      c.error(at(size), `must be a whole number of ${size} pages ${got(quantity)}`)
    else wants.push({ pool, quantity: quantity!, bytes })
  }
  return wants
}

/** "CPU 0 without its SMT sibling 16" for each core the reservation takes only part of. */
function splitCores(reserved: number[], threadSiblings: number[][] | undefined): string[] {
  const set = new Set(reserved)
  return (threadSiblings ?? [])
    .filter((core) => core.some((c) => set.has(c)) && !core.every((c) => set.has(c)))
    .map(
      (core) =>
        `CPU ${core.filter((c) => set.has(c)).join(',')} without its SMT sibling ${core.filter((c) => !set.has(c)).join(',')}`,
    )
}

/** The reservation grown to whole cores, as a cpuset list. */
const wholeCores = (reserved: number[], threadSiblings: number[][]) =>
  formatCpus([...new Set(threadSiblings.filter((core) => core.some((c) => reserved.includes(c))).flat())])

/** Linux's largest NR_CPUS: a cpuset naming a higher CPU is a typo, and expanding it would exhaust memory. */
const MAX_CPUS = 8192

/** Why a cpuset list ("0,1", "0-3,32-35") cannot be right, or undefined when it can. */
function cpusetError(s: string): string | undefined {
  for (const part of s.trim() ? s.split(',') : []) {
    const [a, b = a] = part.split('-').map(Number)
    if (b < a) return `CPU range ${part} is reversed (write ${b}-${a})`
    if (b >= MAX_CPUS) return `CPU ${b} is beyond any machine (Linux supports at most ${MAX_CPUS} CPUs)`
  }
  return undefined
}

/** Expands a cpuset list; throws on one cpusetError rejects (validated inventories never have one). */
export function expandCpuset(s: string): number[] {
  const problem = cpusetError(s)
  if (problem) throw new Error(`cpuset ${JSON.stringify(s)}: ${problem}`)
  return parseCpuList(s)
}

// ---------------------------------------------------------------- YAML syntax errors

/**
 * The syntax errors an operator should see: the first (the parser's later complaints about the same spot are
 * consequences: one tab yields "Nested mappings..." on every line after it) and every duplicate key (each is
 * its own mistake).
 */
export function syntaxErrorsWorthReporting<E extends { code?: string }>(errors: readonly E[]): E[] {
  return errors.filter((e, i) => i === 0 || e.code === 'DUPLICATE_KEY')
}

/** The mapping key a line starts with: `  - address: x` → address. */
export function keyOnLine(text: string, line: number): string | undefined {
  const l = text.split('\n')[line - 1] ?? ''
  const m = /^[\s-]*(?:"([^"]*)"|'([^']*)'|([^\s:#"'{}[\],](?:[^:#]*?[^\s:#])?))\s*:(?:\s|$)/.exec(l)
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined
}

/** The parser's message, plus the key on the offending line so the operator knows which field it is about. */
export function describeYamlError(e: { message: string; code?: string }, text: string, line: number): string {
  const msg = e.message.split('\n')[0]
  const key = keyOnLine(text, line)
  if (!key) return msg
  return e.code === 'DUPLICATE_KEY' ? `${msg}: "${key}" is given twice` : `${msg} (at "${key}")`
}

/** What to do about a YAML syntax error, by the parser's error code; `key` is the key on that line. */
export function yamlSyntaxFix(code: string | undefined, key: string | undefined): string | undefined {
  switch (code) {
    case 'DUPLICATE_KEY':
      return `keep one ${key ? `"${key}"` : 'of the two keys'} and delete the other`
    case 'TAB_AS_INDENT':
      return 'indent with spaces; YAML does not allow tabs for indentation'
    case 'BAD_INDENT':
      return 'indent this line with spaces to the same column as the keys beside it'
    case 'MISSING_CHAR':
      return 'close the quote or bracket that was opened here'
    default:
      return undefined
  }
}

export interface CheckResult {
  inventory?: Inventory
  errors: InventoryIssue[]
  warnings: InventoryIssue[]
}

interface ParseOptions {
  /** Facts about each machine, to check huge pages and reservations against; without them those limits are not checked. */
  hardware?: HardwareLookup
  /** Called with each warning of a valid inventory (things that work but are probably not what was meant). */
  onWarning?: (w: InventoryIssue) => void
}

/** Validate an inventory's text, returning every error and warning (never throws for bad input). */
export function checkInventory(text: string, file: string, opts: ParseOptions = {}): CheckResult {
  const parsed = parseWithPositions(text)
  const c = new Collector(file, parsed)
  if (parsed.doc.errors.length) {
    for (const e of syntaxErrorsWorthReporting(parsed.doc.errors)) {
      const pos = errorPosition(parsed.lines, e, text)
      const fix = yamlSyntaxFix(e.code, keyOnLine(text, pos.line))
      c.issues.push({
        file,
        line: pos.line,
        column: pos.column,
        field: '',
        message: `YAML syntax error: ${describeYamlError(e, text, pos.line)}${fix ? ` (fix: ${fix})` : ''}`,
      })
    }
    return { errors: c.issues, warnings: [] }
  }
  const bomb = aliasBombAt([parsed.doc], parsed.lines)
  if (bomb)
    return {
      errors: [{ file, ...bomb, field: '', message: `${ALIAS_BOMB.message} (fix: ${ALIAS_BOMB.fix})` }],
      warnings: [],
    }
  const doc = parsed.doc.toJS() as unknown
  if (!validateSchema(doc)) {
    for (const e of validateSchema.errors ?? []) {
      const { path, message } = ajvMessage(e)
      c.error(path, message)
    }
    return { errors: c.issues, warnings: c.warnings }
  }
  const d = doc as Obj
  const nodes = mergeNodes(d)
  checkCluster(c, d)
  checkNodes(c, d, nodes, opts.hardware)
  checkVip(c, d)
  checkValidator(c, d, opts.hardware)
  c.issues.sort((a, b) => a.line - b.line || a.column - b.column)
  if (c.issues.length) return { errors: c.issues, warnings: c.warnings }
  const inventory: Inventory = { cluster: { imageFactory: DEFAULT_IMAGE_FACTORY, ...d.cluster }, nodes }
  if (d.defaults) inventory.defaults = d.defaults
  if (d.validator) inventory.validator = normalizedValidator(d.validator)
  return { inventory, errors: [], warnings: c.warnings }
}

/** The validator as the rest of the code sees it: hugepages always a list of pools, the pod's per size. */
function normalizedValidator(v: Obj): ValidatorProfile {
  const hugepages = hugepagePools(v.hugepages as HugepagesInput)
  const out: ValidatorProfile = { ...v, hugepages }
  if (v.storage) out.storage = (v.storage as StorageSpec[]).map((s) => ({ ...s, dataDir: storageDataDir(s) }))
  if (v.pod) out.pod = { ...v.pod, hugepages: podHugepages(v.pod.hugepages as PodHugepagesInput, hugepages) }
  return out
}

/** Parse and validate; throws InventoryError listing every problem. `file` names the source in messages. */
export function parseInventory(text: string, file: string, opts: ParseOptions = {}): Inventory {
  const r = checkInventory(text, file, opts)
  if (r.errors.length || !r.inventory) throw new InventoryError(r.errors)
  for (const w of r.warnings) opts.onWarning?.(w)
  return r.inventory
}

/** Why a file cannot be read, in words rather than errno names. */
export function unreadable(e: unknown): string {
  const hint = 'give --inventory an inventory YAML file, e.g. inventory/lab.yaml'
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return `no such file (${hint})`
    case 'EISDIR':
      return `is a directory (${hint})`
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (make it readable by this user)'
    default:
      return `cannot be read: ${(e as Error).message}`
  }
}

export function loadInventory(file: string, opts: ParseOptions = {}): Inventory {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new InventoryError([{ file, line: 0, column: 0, field: '', message: unreadable(e) }])
  }
  return parseInventory(text, file, opts)
}

/**
 * CPU-isolation arguments the validator's kernel accepts but that do not do what they are for. Talos v1.10.3 boots
 * Linux 6.12 built from siderolabs/pkgs kernel/build/config-amd64 at v1.10.0-16-g39b9c9f (its Makefile's PKGS):
 * `# CONFIG_NO_HZ_FULL is not set` (line 106), so kernel/sched/isolation.c housekeeping_setup drops nohz_full= with
 * "Housekeeping: nohz unsupported"; and CONFIG_RCU_NOCB_CPU, which needs RCU_EXPERT or NO_HZ_FULL (neither is set),
 * is off, so rcu_nocbs= is ignored. isolcpus= works, but kubelet's static CPU manager does not know it
 * (kubernetes/kubernetes#87862): the shared pool, where every pod without exclusive CPUs runs, spans the isolated CPUs,
 * which the scheduler no longer balances, and the validator's own threads on its exclusive CPUs are not balanced either.
 */
/** The CPU isolation arguments the schematic renders itself (config/render.ts cpuIsolationKernelArgs). */
function derivedCpuArg(arg: string): string | undefined {
  if (arg.startsWith('irqaffinity=')) return 'irqaffinity= is derived from validator.reservedSystemCpus'
  if (arg.startsWith('cpufreq.default_governor='))
    return 'cpufreq.default_governor= is derived from validator.cpuGovernor (default performance)'
  return undefined
}

export function kernelArgWithoutEffect(arg: string): string | undefined {
  const name = arg.split('=')[0]!
  if (name === 'nohz_full')
    return `${arg} has no effect on Talos v1.10.3: its kernel is built without CONFIG_NO_HZ_FULL (the kernel logs "Housekeeping: nohz unsupported"); the tick keeps running on those CPUs`
  if (name === 'rcu_nocbs' || name === 'rcu_nocb_poll')
    return `${arg} has no effect on Talos v1.10.3: its kernel is built without CONFIG_RCU_NOCB_CPU`
  if (name === 'isolcpus')
    return `${arg}: kubelet's static CPU manager ignores isolcpus (kubernetes/kubernetes#87862): pods in the shared pool land on the isolated CPUs and the scheduler stops balancing threads there, the validator's too; reserve the system's CPUs with reservedSystemCpus instead`
  return undefined
}
