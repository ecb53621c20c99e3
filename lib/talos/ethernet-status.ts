// Talos's EthernetStatus resource as `talosctl get ethernetstatus -o json` prints it (v1.10.3
// pkg/machinery/resources/network/ethernet_status.go): the link's current rings and channels with their read-only
// maximums (`*-max`), and its features in the driver's order as "on", "off", "on [fixed]", "off [requested on]"
// (FeatureInfo State()+Suffix() of github.com/siderolabs/ethtool v0.4.0-sidero client.go:461-483). talosctl's JSON
// goes through the spec's YAML form (cmd/talosctl/cmd/talos/output/json.go), where features is a name → status map.

export interface EthernetStatus {
  /** rx, tx, rx-mini, rx-jumbo, ... and their read-only maximums rx-max, tx-max, ... (EthernetRingsStatus) */
  rings?: Record<string, number>
  /** rx, tx, other, combined and rx-max, tx-max, other-max, combined-max (EthernetChannelsStatus) */
  channels?: Record<string, number>
  /** feature name → its status words */
  features: Record<string, string>
}

/** A feature's status words as on/off and whether the driver lets it change ("[fixed]"). */
export function featureState(status: string): { on: boolean; fixed: boolean } {
  return { on: status.startsWith('on'), fixed: status.includes('[fixed]') }
}

type Obj = Record<string, unknown>

/** One EthernetStatus spec; features as the YAML map talosctl prints, or the protobuf list of {name, status}. */
export function parseEthernetStatus(spec: unknown): EthernetStatus {
  const s = (spec ?? {}) as Obj
  const raw = s.features
  const features: Record<string, string> = Array.isArray(raw)
    ? Object.fromEntries((raw as Obj[]).map((f) => [String(f.name), String(f.status)]))
    : Object.fromEntries(Object.entries((raw ?? {}) as Obj).map(([k, v]) => [k, String(v)]))
  return {
    ...(s.rings ? { rings: s.rings as EthernetStatus['rings'] } : {}),
    ...(s.channels ? { channels: s.channels as EthernetStatus['channels'] } : {}),
    features,
  }
}
