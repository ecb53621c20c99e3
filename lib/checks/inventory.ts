// The part of the inventory the checks read, as a structural type: lib/inventory.ts's Inventory is a superset,
// so checks accept it as is, and fixtures in tests only spell out what a check looks at.
export interface CheckNode {
  name: string
  address: string
  role: 'controlplane' | 'worker'
  profile?: string
}

export interface CheckStorage {
  name: string
  mountPoint: string
  filesystem: string
  owner: { uid: number; gid: number }
  mode: string
}

export interface CheckValidator {
  hugepages: { size: string; perNumaNode: number[] }
  cpuManagerPolicy?: string
  topologyManagerPolicy?: string
  topologyManagerScope?: string
  reservedSystemCpus?: string
  systemReserved?: Record<string, string>
  kubeReserved?: Record<string, string>
  evictionHard?: Record<string, string>
  reservedMemory?: { numaNode: number; memory: string }[]
  sysctls?: Record<string, string>
  kernelModules?: string[]
  kernelArgs?: string[]
  storage?: CheckStorage[]
  labels?: Record<string, string>
  taints?: { key: string; value?: string; effect: string }[]
}

export interface CheckInventory {
  cluster: { name: string; target: string; outputDir: string; etcdQuotaBytes?: number }
  nodes: CheckNode[]
  validator?: CheckValidator
}

export const controlPlaneNodes = (inv: CheckInventory) => inv.nodes.filter((n) => n.role === 'controlplane')
export const validatorNodes = (inv: CheckInventory) =>
  inv.validator ? inv.nodes.filter((n) => n.profile === 'validator') : []
export const names = (nodes: CheckNode[]) => nodes.map((n) => n.name)

export function nodeByName(inv: CheckInventory, name: string): CheckNode | undefined {
  return inv.nodes.find((n) => n.name === name)
}

/** talosctl tags rows with the address it was given (or the name); map either back to the inventory name. */
export function nodeNameFor(inv: CheckInventory, addressOrName: string): string {
  const n = inv.nodes.find((x) => x.address === addressOrName || x.name === addressOrName)
  return n ? n.name : addressOrName
}
