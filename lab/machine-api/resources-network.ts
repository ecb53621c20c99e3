// Links, addresses and routes as Talos's network controllers leave them (lab/network.ts models which links come up
// and which get DHCP: controllers/network/link_config.go, operator_config.go): the minimum of each spec.
import { networkState } from '../network.ts'
import type { LabNode } from '../state.ts'
import type { ModelResource } from './model-resource.ts'
import { runningConfig } from './running-config.ts'

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
