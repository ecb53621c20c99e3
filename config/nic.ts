// validator.nic: ethtool settings for the validator's link, rendered as a Talos v1.10 EthernetConfig document
// (pkg/machinery/config/types/network/ethernet.go at v1.10.3: name, rings, channels, features), which Talos's
// EthernetConfigController turns into an EthernetSpec and EthernetSpecController applies through ethtool netlink
// (internal/app/machined/pkg/controllers/network/ethernet_config.go, ethernet_spec.go).
//
// What a Firedancer validator sets on its NIC (firedancer-io/firedancer 178b48fe, src/app/shared/commands/configure/):
// - ethtool-channels.c:80-94: combined channels = layout.net_tile_count (its "simple" RSS mode,
//   book/guide/initializing.md "ethtool-channels"): channels.combined here.
// - ethtool-offloads.c:42-53: rx-udp-gro-forwarding off (merges QUIC packets), tx-gre-segmentation and
//   tx-gre-csum-segmentation off (corrupt socket packets while XDP runs): features here.
// - ethtool-loopback.c:1-6,35: tx-udp-segmentation off on `lo`. Not covered: `lo` is no physical link, and this
//   document is for the validator's one configured link.
// Rings are `ethtool -G` (Firedancer sets none): sized here by the operator within the NIC's rx-max/tx-max.

/** The inventory's validator.nic, as written there (one type: config/inventory.ts ValidatorProfile.nic). */
export interface NicTuning {
  /** The link's kernel name (talosctl get links); needed unless nodes[].network.link is given by name. */
  link?: string
  channels?: NicChannels
  rings?: NicRings
  /** ethtool feature name (ethtool -k) → on/off. */
  features?: Record<string, boolean>
}

export interface NicChannels {
  rx?: number
  tx?: number
  other?: number
  combined?: number
}

export interface NicRings {
  rx?: number
  tx?: number
  'rx-mini'?: number
  'rx-jumbo'?: number
}

export const CHANNEL_KEYS = ['rx', 'tx', 'other', 'combined'] as const
export const RING_KEYS = ['rx', 'tx', 'rx-mini', 'rx-jumbo'] as const

// ethtool netlink takes u32 counts (include/uapi/linux/ethtool_netlink.h ETHTOOL_A_CHANNELS_*_COUNT: NLA_U32)
const count = { type: 'integer', minimum: 0, maximum: 4294967295 }
const closedCounts = (keys: readonly string[]) => ({
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: Object.fromEntries(keys.map((k) => [k, count])),
})

/** JSON schema for validator.nic (config/inventory-schema.ts). */
export const nicSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // Linux link names: at most 15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or whitespace (net/core/dev.c dev_valid_name)
    link: {
      type: 'string',
      pattern: '^[^/:\\s]{1,15}$',
      'x-message': 'must be a Linux link name such as enp65s0f0np0 (at most 15 characters, no "/", ":" or spaces)',
    },
    channels: closedCounts(CHANNEL_KEYS),
    rings: closedCounts(RING_KEYS),
    features: {
      type: 'object',
      // ethtool's feature names (net/ethtool/common.c netdev_features_strings): lower case, digits, '-', '_'
      propertyNames: { pattern: '^[a-z0-9][a-z0-9_-]*$' },
      additionalProperties: { type: 'boolean', 'x-message': 'must be true (on) or false (off)' },
    },
  },
}

/** A port of the machine, as hardware facts list it (config/inventory.ts HardwareFacts.links). */
interface Port {
  name: string
  mac: string
  busPath: string
}

interface LinkRefLike {
  mac?: string
  busPath?: string
  name?: string
}

type PathSeg = string | number
export interface NicProblem {
  path: PathSeg[]
  message: string
}

/**
 * The link the EthernetConfig names: Talos selects it by name only (ethernet.go: `name`, schemaRequired; the
 * spec controller passes it to ethtool as the interface name, ethernet_spec.go), there is no deviceSelector.
 */
export function nicLinkName(nic: NicTuning, link: LinkRefLike | undefined): string | undefined {
  return nic.link ?? link?.name
}

const refText = (l: LinkRefLike) => (l.mac ? `mac ${l.mac}` : l.busPath ? `busPath ${l.busPath}` : `name ${l.name}`)
const portOf = (l: LinkRefLike, ports: Port[]) =>
  ports.find((p) => (l.mac ? p.mac === l.mac.toLowerCase() : l.busPath ? p.busPath === l.busPath : p.name === l.name))

/**
 * What validator.nic needs beyond its schema: a link name that is the validator's configured link. `nodeAt` is the
 * validator node's path, `link` its network.link, `ports` the machine's ports when something knows them (the lab).
 */
export function nicProblems(
  nic: NicTuning,
  nodeAt: PathSeg[],
  link: LinkRefLike | undefined,
  ports: Port[] | undefined,
): NicProblem[] {
  const at = ['validator', 'nic']
  if (!nic.channels && !nic.rings && !Object.keys(nic.features ?? {}).length)
    return [{ path: at, message: 'sets nothing: give channels, rings or features (or remove validator.nic)' }]
  if (!link)
    return [
      {
        path: at,
        message: `tunes the validator's link, but ${[...nodeAt, 'network', 'link'].join('.')} names none: add network: { link: { name | mac | busPath } }`,
      },
    ]
  if (nic.link === undefined && link.name === undefined)
    return [
      {
        path: at,
        message: `Talos's EthernetConfig selects its link by name only (no mac or busPath selector), and ${[...nodeAt, 'network', 'link'].join('.')} gives ${refText(link)}: add link: <the link's name> here (talosctl -n <ip> get links lists each link's name, hardwareAddr and busPath)`,
      },
    ]
  if (nic.link !== undefined && link.name !== undefined && nic.link !== link.name)
    return [
      {
        path: [...at, 'link'],
        message: `is ${nic.link}, but the validator's network.link is ${link.name}: the EthernetConfig must name the link Talos configures`,
      },
    ]
  const port = ports && portOf(link, ports)
  if (port && nic.link !== undefined && port.name !== nic.link)
    return [
      {
        path: [...at, 'link'],
        message: `is ${nic.link}, but network.link (${refText(link)}) is ${port.name} on this machine: name ${port.name}`,
      },
    ]
  return []
}

/** The EthernetConfig document's fields (templates/ethernet.yaml): unset parts are left out, as Talos omits them. */
export function ethernetConfigVars(nic: NicTuning, name: string) {
  const some = <T extends object>(o: T | undefined) => (o && Object.keys(o).length ? o : undefined)
  return { name, channels: some(nic.channels), rings: some(nic.rings), features: some(nic.features) }
}
