// The machine config a lab machine runs, as its resources read it: none in maintenance mode (machined has no config
// then), else the saved config with the lab's view of it and the raw v1alpha1 document for the fields the view omits.
import { existsSync, readFileSync } from 'node:fs'
import { parseAllDocuments } from 'yaml'
import { parseMachineConfig, type MachineConfigView } from '../machine-config.ts'
import { paths, type LabNode } from '../state.ts'

export interface RunningConfig {
  text: string
  view: MachineConfigView
  /** machine.features.diskQuotaSupport (v1alpha1_features.go DiskQuotaSupportEnabled: unset is false). */
  diskQuotaSupport: boolean
  /** cluster.controlPlane.localAPIServerPort, the API server's port on the machine (default 6443). */
  localApiServerPort: number
}

export function runningConfig(n: LabNode): RunningConfig | undefined {
  if (n.stage === 'maintenance' || n.stage === 'off') return undefined
  const file = paths.config(n.name)
  if (!existsSync(file)) return undefined
  const text = readFileSync(file, 'utf8')
  const v1 = parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, any> | null)
    .find((d) => d?.version === 'v1alpha1' && d.machine)
  return {
    text,
    view: parseMachineConfig(text, file),
    diskQuotaSupport: v1?.machine?.features?.diskQuotaSupport === true,
    localApiServerPort: Number(v1?.cluster?.controlPlane?.localAPIServerPort ?? 6443),
  }
}
