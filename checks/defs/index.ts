// Every check, in the order the report lists them.
import type { AnyCheck } from '../engine/types.ts'
import { clusterChecks } from './cluster.ts'
import { cpuChecks } from './cpu.ts'
import { etcdChecks } from './etcd.ts'
import { hugepagesChecks } from './hugepages.ts'
import { isolationChecks } from './isolation.ts'
import { kernelChecks } from './kernel.ts'
import { kubeletChecks } from './kubelet.ts'
import { nicChecks } from './nic.ts'
import { numaChecks } from './numa.ts'
import { storageChecks } from './storage.ts'
import { solanaChecks } from './solana.ts'
import { servingCsr } from './serving-csr.ts'
import { sysctlChecks } from './sysctls.ts'
import { talosHealth } from './talos-health.ts'

export const ALL_CHECKS: AnyCheck[] = [
  ...clusterChecks,
  servingCsr,
  talosHealth,
  ...etcdChecks,
  ...hugepagesChecks,
  ...numaChecks,
  ...sysctlChecks,
  ...solanaChecks,
  ...nicChecks,
  ...kernelChecks,
  ...kubeletChecks,
  ...storageChecks,
  ...isolationChecks,
  ...cpuChecks,
]
