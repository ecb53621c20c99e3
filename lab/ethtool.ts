// A lab NIC's ethtool state: the driver's defaults and maximums (lab/hardware.ts), with the machine config's
// EthernetConfig documents applied the way Talos v1.10.3 does it, for `talosctl get ethernetstatus` and the
// controller's errors.
//
// Talos (internal/app/machined/pkg/controllers/network/): EthernetConfigController copies each document into an
// EthernetSpec named after the link (ethernet_config.go); EthernetSpecController applies each spec with ethtool
// netlink, per link in this order: rings, then features, then channels, and stops at that link's first error
// (ethernet_spec.go apply:101-157), joining every link's error into one (Run:79-87). Nothing is kept across boots:
// the NIC comes up with the driver's defaults and the controller applies the config again, so this is a pure
// function of the hardware and the running config.
//
// The kernel's side (net/ethtool/): a ring size or channel count above the maximum the driver reports is refused
// with EINVAL before the driver sees it (rings.c ethnl_set_rings "requested ring size exceeds maximum",
// channels.c ethnl_set_channels "requested channel count exceeds maximum"); a feature name the kernel does not
// know is refused (bitset.c ethnl_parse_bit: EOPNOTSUPP); a known feature the driver does not let
// change is silently left as it is (features.c ethnl_set_features masks the request with dev->hw_features), and
// shows as "[fixed]" in the status.

/** One ethtool feature of a NIC: its state, and whether the driver lets it change. */
export interface LabFeature {
  name: string
  on: boolean
  fixed?: boolean
}

/** What a NIC's driver reports and starts with. Counts not listed are not supported by the driver. */
export interface LabEthtool {
  channels: { combinedMax: number; combined: number }
  rings: { rxMax: number; txMax: number; rx: number; tx: number }
  features: LabFeature[]
}

/** An EthernetConfig document, as far as the lab applies it (pkg/machinery/config/types/network/ethernet.go). */
export interface EthernetConfigDoc {
  name: string
  channels?: Record<string, number>
  rings?: Record<string, number>
  features?: Record<string, boolean>
}

type Obj = Record<string, unknown>

/** The EthernetConfig documents of a multi-document machine config (already parsed). */
export function ethernetConfigDocs(docs: (Obj | null)[]): EthernetConfigDoc[] {
  return docs
    .filter((d): d is Obj => d?.kind === 'EthernetConfig' && d.apiVersion === 'v1alpha1')
    .map((d) => ({
      name: String(d.name),
      channels: d.channels as Record<string, number> | undefined,
      rings: d.rings as Record<string, number> | undefined,
      features: d.features as Record<string, boolean> | undefined,
    }))
}

/** A NIC after the controller ran: its state, and the error Talos logs for it (undefined when all applied). */
export interface AppliedEthtool {
  state: LabEthtool
  error?: string
}

const SUPPORTED_CHANNELS = ['combined']
const SUPPORTED_RINGS = ['rx', 'tx']

/** The rings step: every asked-for ring within its maximum, or nothing changes (one ETHTOOL_MSG_RINGS_SET). */
function setRings(s: LabEthtool, want: Record<string, number>): string | undefined {
  const unsupported = Object.keys(want).find((k) => !SUPPORTED_RINGS.includes(k))
  if (unsupported) return `error updating rings: operation not supported` // the driver has no such ring parameter
  const max = { rx: s.rings.rxMax, tx: s.rings.txMax } as Record<string, number>
  if (Object.entries(want).some(([k, v]) => v > max[k]!))
    return 'error updating rings: invalid argument (requested ring size exceeds maximum)'
  s.rings = { ...s.rings, ...want }
  return undefined
}

function setFeatures(s: LabEthtool, want: Record<string, boolean>): string | undefined {
  const unknown = Object.keys(want).find((k) => !s.features.some((f) => f.name === k))
  if (unknown) return 'error updating features: operation not supported' // the kernel knows no feature by that name
  s.features = s.features.map((f) => (f.name in want && !f.fixed ? { ...f, on: want[f.name]! } : f))
  return undefined
}

function setChannels(s: LabEthtool, want: Record<string, number>): string | undefined {
  if (Object.keys(want).some((k) => !SUPPORTED_CHANNELS.includes(k)))
    return 'error updating channels: invalid argument (requested channel count exceeds maximum)' // max 0 for those
  if ((want.combined ?? 0) > s.channels.combinedMax)
    return 'error updating channels: invalid argument (requested channel count exceeds maximum)'
  if (want.combined === 0) return 'error updating channels: invalid argument' // no RX queue left: channels.c refuses it
  s.channels = { ...s.channels, ...want }
  return undefined
}

/** One link's NIC with its EthernetConfig (if any) applied in the controller's order. */
export function applyEthernetConfig(defaults: LabEthtool, doc: EthernetConfigDoc | undefined): AppliedEthtool {
  const state = structuredClone(defaults)
  if (!doc) return { state }
  const steps: [object | undefined, () => string | undefined][] = [
    [doc.rings, () => setRings(state, doc.rings!)],
    [doc.features, () => setFeatures(state, doc.features!)],
    [doc.channels, () => setChannels(state, doc.channels!)],
  ]
  for (const [part, step] of steps) {
    if (!part || !Object.keys(part).length) continue
    const error = step()
    if (error) return { state, error: `error configuring "${doc.name}": ${error}` }
  }
  return { state }
}

/** The EthernetStatus spec of a link (pkg/machinery/resources/network/ethernet_status.go field names). */
export function ethernetStatusSpec(s: LabEthtool, linkUp: boolean) {
  return {
    linkState: linkUp,
    ...(linkUp ? { speedMbit: 25000 } : {}),
    port: 'DirectAttach',
    duplex: linkUp ? 'Full' : 'Unknown',
    rings: { 'rx-max': s.rings.rxMax, 'tx-max': s.rings.txMax, rx: s.rings.rx, tx: s.rings.tx },
    features: s.features.map((f) => ({ name: f.name, status: `${f.on ? 'on' : 'off'}${f.fixed ? ' [fixed]' : ''}` })),
    channels: { 'combined-max': s.channels.combinedMax, combined: s.channels.combined },
  }
}

/** A virtio NIC (the lab's default port, lab/network.ts): one queue, 256-entry rings; Talos's docs show this shape
 * (website/content/v1.10/talos-guides/network/ethernet-config.md). */
export const VIRTIO_NET: LabEthtool = {
  channels: { combinedMax: 1, combined: 1 },
  rings: { rxMax: 256, txMax: 256, rx: 256, tx: 256 },
  features: [
    { name: 'tx-scatter-gather', on: true },
    { name: 'highdma', on: true, fixed: true },
    { name: 'tx-generic-segmentation', on: true },
    { name: 'rx-gro', on: true },
    { name: 'tx-tcp-segmentation', on: true },
    { name: 'tx-gre-segmentation', on: false, fixed: true },
    { name: 'tx-gre-csum-segmentation', on: false, fixed: true },
    { name: 'tx-udp-segmentation', on: false },
    { name: 'rx-udp-gro-forwarding', on: false },
  ],
}
