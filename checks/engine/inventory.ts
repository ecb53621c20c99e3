// The part of the inventory the checks read, picked from config/inventory.ts's types: its Inventory satisfies
// CheckInventory as is, and fixtures in tests only spell out what a check looks at.
import type { ClusterSpec, InventoryNode, StorageSpec, ValidatorProfile } from '../../config/inventory.ts'

export type CheckNode = Pick<InventoryNode, 'name' | 'address' | 'role' | 'profile' | 'network'>

type CheckStorage = Pick<StorageSpec, 'name' | 'mountPoint' | 'dataDir' | 'filesystem' | 'owner' | 'mode'>

export type CheckValidator = Omit<ValidatorProfile, 'storage'> & { storage?: CheckStorage[] }

export interface CheckInventory {
  cluster: Pick<ClusterSpec, 'name' | 'target' | 'outputDir' | 'etcdQuotaBytes' | 'etcdBackupMaxAge'>
  nodes: CheckNode[]
  validator?: CheckValidator
}

export const controlPlaneNodes = (inv: CheckInventory) => inv.nodes.filter((n) => n.role === 'controlplane')
export const validatorNodes = (inv: CheckInventory) =>
  inv.validator ? inv.nodes.filter((n) => n.profile === 'validator') : []
export const names = (nodes: CheckNode[]) => nodes.map((n) => n.name)

/** talosctl tags rows with the address it was given (or the name); map either back to the inventory name. */
export function nodeNameFor(inv: CheckInventory, addressOrName: string): string {
  const n = inv.nodes.find((x) => x.address === addressOrName || x.name === addressOrName)
  return n ? n.name : addressOrName
}
