// Links, addresses and routes as Talos's network controllers leave them (lab/network.ts models which links come up
// and which get DHCP: controllers/network/link_config.go, operator_config.go): the minimum of each spec.
import { networkState } from '../network.ts'
import type { LabNode } from '../state.ts'
import type { ModelResource } from './model-resource.ts'
import { runningConfig } from './running-config.ts'
import { parseAllDocuments } from 'yaml'
import {
  applyEthernetConfig,
  ethernetConfigDocs,
  ethernetStatusSpec,
  VIRTIO_NET,
  type AppliedEthtool,
} from '../ethtool.ts'

const state = (n: LabNode) => networkState(n, runningConfig(n)?.view.interfaces ?? [])

export function linkStatuses(n: LabNode): ModelResource[] {
  return state(n).links.map((l, i) => ({
    id: l.link.name,
    owner: 'network.LinkStatusController',
    spec: {
      index: i + 2,
      type: 'ether',
      kind: '',
      hardwareAddr: l.link.mac,
      permanentAddr: l.link.mac,
      operationalState: l.adminUp && l.link.carrier ? 'up' : 'down',
      linkState: l.adminUp && l.link.carrier,
      busPath: l.link.busPath,
      driver: l.link.driver,
    },
  }))
}

export function addressStatuses(n: LabNode): ModelResource[] {
  return state(n).addresses.map((a) => ({
    id: `${a.linkName}/${a.address}`,
    owner: 'network.AddressStatusController',
    spec: {
      address: a.address,
      local: a.address.split('/')[0],
      linkName: a.linkName,
      family: 'inet4',
      scope: 'global',
      flags: 'permanent',
      priority: a.priority,
    },
  }))
}

export function routeStatuses(n: LabNode): ModelResource[] {
  return state(n).routes.map((r) => ({
    id: `inet4/${r.gateway}/${r.dst}/${r.priority}`,
    owner: 'network.RouteStatusController',
    spec: {
      family: 'inet4',
      dst: r.dst,
      src: r.source,
      gateway: r.gateway,
      outLinkName: r.outLinkName,
      table: 'main',
      priority: r.priority,
      scope: 'global',
      type: 'unicast',
      protocol: r.protocol,
    },
  }))
}

/** Each link's NIC after EthernetSpecController applied the running config's EthernetConfig for it (lab/ethtool.ts). */
function ethtoolOf(n: LabNode): { name: string; up: boolean; applied: AppliedEthtool }[] {
  const text = runningConfig(n)?.text
  const docs = text
    ? ethernetConfigDocs(parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown> | null))
    : []
  return state(n).links.map((l) => ({
    name: l.link.name,
    up: l.adminUp && l.link.carrier,
    applied: applyEthernetConfig(
      l.link.ethtool ?? VIRTIO_NET,
      docs.find((d) => d.name === l.link.name),
    ),
  }))
}

export function ethernetStatuses(n: LabNode): ModelResource[] {
  return ethtoolOf(n).map((l) => ({
    id: l.name,
    owner: 'network.EthernetStatusController',
    spec: ethernetStatusSpec(l.applied.state, l.up),
  }))
}

/**
 * The error EthernetSpecController returns while a spec cannot be applied (ethernet_spec.go Run:79-87), one line as
 * the controller runtime logs a failed run (cosi-project/runtime v0.10.2 rruntime/run.go:56 "controller failed").
 * An EthernetConfig naming a link the machine does not have fails too: ethtool answers ENODEV for it.
 */
export function ethernetSpecErrors(n: LabNode): string[] {
  const text = runningConfig(n)?.text
  if (!text) return []
  const links = ethtoolOf(n)
  const docs = ethernetConfigDocs(parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown> | null))
  const errors = [
    ...links.flatMap((l) => (l.applied.error ? [l.applied.error] : [])),
    ...docs
      .filter((d) => !links.some((l) => l.name === d.name))
      .map((d) => `error configuring "${d.name}": error updating link: no such device`),
  ]
  return errors.length
    ? [
        `controller failed {"component": "controller-runtime", "controller": "network.EthernetSpecController", "error": ${JSON.stringify(`failed to reconcile Ethernet specs: ${errors.join('\n')}`)}}`,
      ]
    : []
}
