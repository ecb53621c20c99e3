// What each lab machine answers, by operation: the lab's machine behaviour (state, sysroot, etcd, services) stated as
// Talos's API messages in protojson form, which lab/talos-api decodes strictly into Talos's own Go types.
import { existsSync, readFileSync } from 'node:fs'
import { isDown, loadNodes, paths, type LabNode } from '../state.ts'
import { installNode } from '../machine-install.ts'

import { ModelError } from './errors.ts'
import { Dmesg, List, Mounts, Read } from './files.ts'
import { EtcdAlarmList, EtcdMemberList, EtcdRemoveMemberByID, EtcdStatus } from './etcd.ts'
import { EtcdForfeitLeadership } from './etcd-admin.ts'
import { ServiceList, ServiceRestart } from './services.ts'
import { Bootstrap } from './cluster.ts'
import { resources } from './resources.ts'
import { Events, Reboot, Reset, Rollback, Shutdown, Upgrade } from './power.ts'
import { ApplyConfiguration, CancelConfigRollback, MachineConfigs, persistentConfig } from './config.ts'
import { EtcdLocalEndpoint, EtcdRecoverTarget } from './etcd-data.ts'
import { ServiceLog } from './logs.ts'
import { HealthAssert, HealthMembers } from './health.ts'
import { Containers } from './containers.ts'

export { ModelError }

export interface ModelNode {
  name: string
  address: string
  role: string
  stage: string
  down: boolean
  slowMs: number
  talosVersion: string
  config: string
  persistentConfig: string
}

/** Every machine as talos-api needs it to decide whether and how it listens. */
export function modelNodes(): ModelNode[] {
  return loadNodes().map((n) => ({
    name: n.name,
    address: n.address,
    role: n.role,
    stage: n.stage,
    down: isDown(n),
    slowMs: n.faults.slowMs ?? 0,
    talosVersion: n.talosVersion,
    config:
      n.stage !== 'maintenance' && existsSync(paths.config(n.name)) ? readFileSync(paths.config(n.name), 'utf8') : '',
    persistentConfig: n.stage !== 'maintenance' ? persistentConfig(n.name) : '',
  }))
}

type Op = (n: LabNode, args: Record<string, unknown>) => Promise<unknown> | unknown

/**
 * A maintenance-mode machine takes its config (validated by talos-api with Talos's own validation) and installs:
 * the answer goes back first and the install runs on, as machined hands the config on and returns
 * (internal/app/maintenance/server.go ApplyConfiguration: `s.cfgCh <- cfgProvider`).
 */
function install(n: LabNode, args: Record<string, unknown>): unknown {
  if (n.stage !== 'maintenance') throw new ModelError('FailedPrecondition', 'the machine is not in maintenance mode')
  installNode(n.name, String(args.config)).catch((e: Error) =>
    process.stderr.write(`${new Date().toISOString()} ${n.name}: install failed: ${e.message}\n`),
  )
  return {}
}

export const NODE_OPS: Record<string, Op> = {
  resources,
  install,
  Read,
  List,
  Mounts,
  Dmesg,
  EtcdStatus,
  EtcdMemberList,
  EtcdAlarmList,
  EtcdRemoveMemberByID,
  EtcdForfeitLeadership,
  ServiceList,
  ServiceRestart,
  Bootstrap,
  Reboot,
  Shutdown,
  Reset,
  Upgrade,
  Rollback,
  Events,
  MachineConfigs,
  CancelConfigRollback,
  ApplyConfiguration,
  EtcdLocalEndpoint,
  EtcdRecoverTarget,
  ServiceLog,
  HealthMembers,
  HealthAssert,
  Containers,
}
