// Talos v1.10.3's network configuration of a lab machine's physical ports: which links are up, which addresses and
// routes they get, from machine.network.interfaces and the ports' cables. The rules (siderolabs/talos v1.10.3,
// internal/app/machined/pkg/controllers/network/):
//   - device_config.go:99-131,207-246: an entry with deviceSelector becomes one device per matching link
//     (hardwareAddr, permanentAddr, driver, busPath are globs that must all match; physical compares Physical());
//     an entry with `interface` names the link;
//   - link_config.go:90,286: an entry with `ignore: true` gets no link spec: the link stays down; link_config.go:
//     157-213: every physical link no entry names is brought up by default;
//   - operator_config.go:136-159: an entry with dhcp runs DHCPv4 on its link (route metric 1024 unless set);
//     operator_config.go:241-259: so does every physical link that no entry names and none ignores; each DHCP operator
//     has RequireUp, so it gets a lease only when the link has a carrier;
//   - operator/dhcp4.go:307-370: a lease is an address (scope global, flags permanent, priority = the metric) and a
//     default route via the router (protocol boot, the same metric); route_config.go:264-266: a static route's metric
//     is 1024 unless set; resources/network/network.go:31-56 the address and route IDs.
// Kept minimal: IPv4 only; no loopback, VLANs, bonds, bridges, connected (subnet) routes or VIP addresses (the lab's
// VIP election is its own: lab/vip-election.ts).
import type { Hardware, LabLink } from './state.ts'

type Entry = Record<string, unknown>

/** The port of a machine without a `links` profile: one virtio NIC on the node network. */
const DEFAULT_LINK: LabLink = {
  name: 'eth0',
  mac: '52:54:00:00:00:01',
  busPath: '0000:00:03.0',
  driver: 'virtio_net',
  carrier: true,
}

export const linksOf = (hw: Pick<Hardware, 'links'>): LabLink[] => hw.links ?? [DEFAULT_LINK]

export interface LinkState {
  link: LabLink
  /** Talos set it up (configured, or by default); an ignored link stays down */
  adminUp: boolean
  /** why it is configured as it is: ignored, machine config, default */
  source: 'ignored' | 'config' | 'default'
}

export interface AddressState {
  linkName: string
  address: string
  priority: number
  /** dhcp: a lease; static: machine.network.interfaces[].addresses */
  origin: 'dhcp' | 'static'
}

export interface RouteState {
  outLinkName: string
  dst: string
  gateway: string
  source: string
  priority: number
  protocol: 'boot' | 'static'
}

export interface NetworkState {
  links: LinkState[]
  addresses: AddressState[]
  routes: RouteState[]
}

const DEFAULT_ROUTE_METRIC = 1024

/** ryanuber/go-glob as the selector uses it: `*` matches any run of characters, nothing else is special. */
function glob(pattern: string, s: string): boolean {
  const re = pattern
    .split('*')
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${re}$`).test(s)
}

/** The links an interfaces entry configures (DeviceConfigController). All lab ports are physical (ether, no kind). */
function selectLinks(entry: Entry, links: LabLink[]): LabLink[] {
  const sel = entry.deviceSelector as Record<string, unknown> | undefined
  if (!sel) return links.filter((l) => l.name === entry.interface)
  return links.filter((l) => {
    let match: boolean | undefined
    for (const [want, have] of [
      [sel.hardwareAddr, l.mac],
      [sel.permanentAddr, l.mac],
      [sel.driver, l.driver],
      [sel.busPath, l.busPath],
    ] as const) {
      if (want === undefined || want === '') continue
      if (!glob(String(want), have)) return false
      match = true
    }
    if (sel.physical !== undefined && match !== false) match = sel.physical === true
    return match === true
  })
}

const octets = (ip: string) => ip.split('.')

/** What the DHCP server of the port's segment hands this node: address (CIDR) and router. */
function lease(link: LabLink, nodeAddress: string): { address: string; router: string } {
  if (!link.segment) {
    const o = octets(nodeAddress)
    return { address: `${nodeAddress}/24`, router: `${o.slice(0, 3).join('.')}.1` }
  }
  const [net, bits] = link.segment.cidr.split('/')
  const host = octets(nodeAddress)[3]
  return { address: `${octets(net!).slice(0, 3).join('.')}.${host}/${bits}`, router: link.segment.router }
}

/**
 * The links, addresses and routes of a machine with these interfaces entries (none: a machine without a config, or
 * a config that names no link: Talos' defaults on every port).
 */
export function networkState(
  node: { address: string; hardware: Pick<Hardware, 'links'> },
  interfaces: Entry[],
): NetworkState {
  const links = linksOf(node.hardware)
  const ignored = new Set<string>()
  const configured = new Map<string, Entry>()
  for (const entry of interfaces)
    for (const l of selectLinks(entry, links)) {
      if (entry.ignore === true) ignored.add(l.name)
      else if (!configured.has(l.name)) configured.set(l.name, entry)
    }
  const out: NetworkState = { links: [], addresses: [], routes: [] }
  for (const link of links) {
    const entry = ignored.has(link.name) ? undefined : configured.get(link.name)
    const source = ignored.has(link.name) ? 'ignored' : entry ? 'config' : 'default'
    out.links.push({ link, adminUp: source !== 'ignored', source })
    if (source === 'ignored') continue
    for (const a of (entry?.addresses as string[] | undefined) ?? [])
      out.addresses.push({ linkName: link.name, address: a, priority: DEFAULT_ROUTE_METRIC, origin: 'static' })
    for (const r of (entry?.routes as Entry[] | undefined) ?? [])
      out.routes.push({
        outLinkName: link.name,
        dst: String(r.network ?? '') === '0.0.0.0/0' ? '' : String(r.network ?? ''),
        gateway: String(r.gateway ?? ''),
        source: '',
        priority: Number(r.metric ?? 0) || DEFAULT_ROUTE_METRIC,
        protocol: 'static',
      })
    const dhcp = source === 'default' || entry?.dhcp === true
    if (!dhcp || !link.carrier) continue
    const metric = Number((entry?.dhcpOptions as Entry | undefined)?.routeMetric ?? 0) || DEFAULT_ROUTE_METRIC
    const l = lease(link, node.address)
    out.addresses.push({ linkName: link.name, address: l.address, priority: metric, origin: 'dhcp' })
    out.routes.push({
      outLinkName: link.name,
      dst: '',
      gateway: l.router,
      source: l.address.split('/')[0]!,
      priority: metric,
      protocol: 'boot',
    })
  }
  return out
}
