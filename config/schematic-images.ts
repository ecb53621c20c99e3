// Does each node's installer image and disk image carry the schematic the inventory renders for it? The kernel
// args of a systemd-boot (UEFI) node come only from its image's schematic, and an image that carries another one
// (say the factory's empty schematic) boots without huge pages and nothing notices. The schematic ID is a content
// hash (lib/schematic.ts), so the check is offline: the ID in the image reference must be the rendered one.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Inventory, InventoryNode } from './inventory.ts'
import { installerImageOf, nodeKernelArgs, renderNodeSchematic } from './render.ts'
import {
  EMPTY_SCHEMATIC_ID,
  factoryDiskImageUrl,
  factoryInstallerImage,
  schematicOfDiskImage,
  schematicOfInstaller,
} from '../lib/talos/schematic.ts'

interface SchematicGroup {
  /** The roles (controlplane, worker) sharing the plain schematic, or the node name for a node of its own. */
  label: string
  id: string
  yaml: string
  kernelArgs: string[]
  nodes: InventoryNode[]
  installerImage: string
}

/** The distinct schematics of an inventory, with the nodes using each, in inventory order. */
export function schematicGroups(inv: Inventory): SchematicGroup[] {
  const groups = new Map<string, SchematicGroup>()
  for (const n of inv.nodes) {
    const { id, yaml } = renderNodeSchematic(inv, n)
    const own = n.profile === 'validator'
    const key = own ? `node:${n.name}` : `plain:${id}`
    const g = groups.get(key) ?? {
      label: '',
      id,
      yaml,
      kernelArgs: nodeKernelArgs(inv, n),
      nodes: [],
      installerImage: factoryInstallerImage(id, inv.cluster.talosVersion, inv.cluster.imageFactory),
    }
    g.nodes.push(n)
    g.label = own ? n.name : [...new Set(g.nodes.map((x) => x.role))].join(',')
    groups.set(key, g)
  }
  return [...groups.values()]
}

const describe = (id: string, args: string[]) =>
  id === EMPTY_SCHEMATIC_ID
    ? `${id.slice(0, 12)}… (the empty schematic: no kernel args)`
    : `${id.slice(0, 12)}…${args.length ? ` (kernel args: ${args.join(' ')})` : ''}`

/** Every node whose installer image or disk image does not name the schematic rendered for it, as one line each. */
export function imageSchematicProblems(inv: Inventory, nodes: InventoryNode[] = inv.nodes): string[] {
  return [...installerSchematicProblems(inv, nodes), ...diskImageSchematicProblems(inv, nodes)]
}

const groupOfNode = (inv: Inventory) =>
  new Map(schematicGroups(inv).flatMap((g) => g.nodes.map((n) => [n.name, g] as const)))

/**
 * Every node whose inventory names an installer image that carries another schematic than the one rendered for it:
 * what `talosctl upgrade --image` and the install would boot (02, 09 and 12 refuse on it; an upgrade to the empty
 * schematic drops the validator's huge pages). A node without one gets the factory's image for its own schematic, and
 * a custom image (no schematic in its reference) cannot be judged here: the linter warns which kernel args it cannot
 * be shown to carry.
 */
export function installerSchematicProblems(inv: Inventory, nodes: InventoryNode[] = inv.nodes): string[] {
  const byNode = groupOfNode(inv)
  const problems: string[] = []
  for (const n of nodes) {
    const g = byNode.get(n.name)!
    const { image, field } = installerImageOf(inv, n)
    const carried = schematicOfInstaller(image)
    if (field && carried !== undefined && carried !== g.id)
      problems.push(
        `${n.name}: ${field} ${image} carries schematic ${describe(carried, [])}, but ${n.name} needs ${describe(g.id, g.kernelArgs)}: remove ${field} (the factory's image for ${n.name}'s schematic is ${g.installerImage})`,
      )
  }
  return problems
}

/** Every node whose rescue.imageUrl (the disk image 01 writes) is not of the schematic rendered for it. */
function diskImageSchematicProblems(inv: Inventory, nodes: InventoryNode[]): string[] {
  const byNode = groupOfNode(inv)
  const problems: string[] = []
  for (const n of nodes) {
    const g = byNode.get(n.name)!
    const url = n.rescue?.imageUrl
    if (!url) continue
    const disk = schematicOfDiskImage(url)
    const factoryUrl = factoryDiskImageUrl(g.id, inv.cluster.talosVersion, inv.cluster.imageFactory)
    if (disk === undefined)
      problems.push(
        `${n.name}: rescue.imageUrl ${url} does not name its schematic; remove rescue.imageUrl (01 then fetches ${factoryUrl}), or keep the ID in its path (…/${g.id}/metal-amd64.raw)`,
      )
    else if (disk !== g.id)
      problems.push(
        `${n.name}: rescue.imageUrl ${url} is the disk image of schematic ${describe(disk, [])}, but ${n.name} needs ${describe(g.id, g.kernelArgs)}: remove rescue.imageUrl (01 then fetches ${factoryUrl})`,
      )
  }
  return problems
}

export const imageProblemsMessage = (problems: string[], inventoryFile: string) =>
  `the images in ${inventoryFile} do not carry the schematics it renders (the kernel args would not reach the kernel); nothing was written:\n` +
  problems.map((p) => `  ${p}`).join('\n') +
  `\n  see: npx zx runbooks/01-provision.ts --inventory ${inventoryFile} --print-schematics`

/** `--print-schematics`: write each schematic under <outDir>/schematics/ and print one line per schematic. */
function printSchematics(inv: Inventory, outDir: string, out: (line: string) => void): void {
  const dir = join(outDir, 'schematics')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  for (const g of schematicGroups(inv)) {
    const file = join(dir, `${g.id}.yaml`)
    writeFileSync(file, g.yaml, { mode: 0o644 })
    const factory = inv.cluster.imageFactory
    out(`${g.label} ${g.id} ${g.installerImage}`)
    out(`  schematic:  ${file} (01 and 09 POST it to ${factory}/schematics, which returns this ID)`)
    out(`  disk image: ${factoryDiskImageUrl(g.id, inv.cluster.talosVersion, factory)}`)
    out(`  installer:  ${g.installerImage}`)
  }
}

/**
 * `01-provision.ts --inventory FILE --print-schematics`: offline, before the runbook connects to anything.
 * Returns the exit code: 0, or 1 when the inventory is bad (its problems printed, nothing written).
 */
export async function printSchematicsCli(argv: string[]): Promise<number> {
  const { loadInventory, InventoryError } = await import('./inventory.ts')
  const { clusterPaths, REPO_ROOT } = await import('./cluster.ts')
  const { DEFAULT_INVENTORY } = await import('../lib/runner/flags.ts')
  const at = argv.findIndex((a) => a === '--inventory' || a.startsWith('--inventory='))
  const file =
    at < 0
      ? join(REPO_ROOT, DEFAULT_INVENTORY)
      : argv[at].includes('=')
        ? argv[at].slice('--inventory='.length)
        : argv[at + 1]
  if (!file) {
    process.stderr.write('--inventory needs a FILE\n')
    return 2
  }
  let inv: Inventory
  try {
    inv = loadInventory(file)
  } catch (e) {
    process.stderr.write(`${e instanceof InventoryError ? e.message : (e as Error).message}\n`)
    return 1
  }
  printSchematics(inv, clusterPaths(inv).outDir, (l) => process.stdout.write(l + '\n'))
  return 0
}
