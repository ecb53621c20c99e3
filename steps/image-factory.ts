// The Image Factory as 01, 09 and 12 use it: register the schematics their nodes need (POST /schematics), refuse when
// the factory's ID is not the one computed here, and fetch each disk image 01 writes into a cache on this workstation.
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, isAbsolute, join } from 'node:path'
import { createHash } from 'node:crypto'
import type { Cluster } from '../config/cluster.ts'
import { REPO_ROOT } from '../config/cluster.ts'
import type { Inventory, InventoryNode } from '../config/inventory.ts'
import { installerImageOf, renderNodeSchematic } from '../config/render.ts'
import { schematicGroups } from '../config/schematic-images.ts'
import { downloadImage, postSchematic, type DownloadProgress } from '../lib/talos/image-factory.ts'
import { factoryDiskImageUrl } from '../lib/talos/schematic.ts'
import { log } from '../lib/runner/log.ts'
import { RefusedError } from '../lib/runner/runner.ts'

interface StepHandle {
  dryRun?: boolean
  progress?: (text: string) => void
}

/** A node takes something from the factory unless the inventory gives both its installer image and its disk image. */
const usesFactory = (inv: Inventory, n: InventoryNode) => !installerImageOf(inv, n).field || !n.rescue?.imageUrl

/**
 * POST the schematic of each of `nodes` that takes an image from the factory, once per schematic. The factory's ID
 * must be the one this repo computed (and that the configs and plans name): a factory that canonicalizes another way
 * would serve images with other kernel args under the ID we expect.
 */
export async function registerSchematics(c: Cluster, nodes: InventoryNode[], step: StepHandle): Promise<void> {
  const names = new Set(nodes.filter((n) => usesFactory(c.inv, n)).map((n) => n.name))
  const factory = c.inv.cluster.imageFactory
  for (const g of schematicGroups(c.inv)) {
    const whose = g.nodes.filter((n) => names.has(n.name)).map((n) => n.name)
    if (!whose.length) continue
    const args = g.kernelArgs.length ? `kernel args: ${g.kernelArgs.join(' ')}` : 'no kernel args'
    if (step.dryRun) {
      log.info(`  (dry-run) would POST schematic ${g.id.slice(0, 12)}… (${args}) to ${factory}/schematics`)
      continue
    }
    const id = await postSchematic(factory, g.yaml)
    if (id !== g.id)
      throw new RefusedError(
        `the Image Factory at ${factory} gives ${whose.join(', ')}'s schematic (${args}) the ID ${id}, but this repo computes ${g.id}: the images would not be the ones the configs name; nothing was changed`,
      )
    log.ok(`schematic ${id.slice(0, 12)}… registered with ${factory} for ${whose.join(', ')} (${args})`)
  }
}

const cacheRoot = () =>
  process.env.TALOS_RUNBOOKS_CACHE ||
  join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'talos-runbooks', 'images')

/** Where node `n`'s disk image comes from and where it lies on this workstation once fetched. */
export function diskImageOf(inv: Inventory, n: InventoryNode): { url: string; file: string } {
  const url = n.rescue?.imageUrl
  if (url?.startsWith('file://')) {
    const p = url.slice('file://'.length)
    return { url, file: isAbsolute(p) ? p : join(REPO_ROOT, p) }
  }
  if (url) {
    // an image the inventory names by URL: cached under a hash of that URL, decompressed when it is .zst
    const key = createHash('sha256').update(url).digest('hex').slice(0, 16)
    const name = basename(new URL(url).pathname).replace(/\.zst$/, '') || 'image.raw'
    return { url, file: join(cacheRoot(), 'url', key, name) }
  }
  // keyed by factory too: a lab's factory serves other bytes under the same schematic and version
  const { id } = renderNodeSchematic(inv, n)
  const factory = inv.cluster.imageFactory
  const host = new URL(factory).host.replace(/[^A-Za-z0-9.-]/g, '_')
  return {
    url: factoryDiskImageUrl(id, inv.cluster.talosVersion, factory),
    file: join(cacheRoot(), host, id, inv.cluster.talosVersion, 'metal-amd64.raw'),
  }
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`

function progressLine(url: string, p: DownloadProgress): string {
  const of = p.total ? ` of ${mib(p.total)} (${Math.floor((100 * p.received) / p.total)}%)` : ''
  return `fetching ${basename(new URL(url).pathname)}: ${mib(p.received)}${of}`
}

/** Fetch every disk image `nodes` need that is not cached yet, one download per image. */
export async function fetchDiskImages(c: Cluster, nodes: InventoryNode[], step: StepHandle): Promise<void> {
  const wanted = new Map(nodes.filter((n) => n.rescue).map((n) => [diskImageOf(c.inv, n).file, diskImageOf(c.inv, n)]))
  for (const { url, file } of wanted.values()) {
    if (existsSync(file)) {
      log.info(`  ${url}: cached (${file})`)
      continue
    }
    if (url.startsWith('file://')) throw new Error(`image ${file} does not exist (rescue.imageUrl ${url})`)
    if (step.dryRun) {
      log.info(`  (dry-run) would fetch ${url} into ${file}`)
      continue
    }
    log.info(`  fetching ${url} → ${file}`)
    let shown = -1
    await downloadImage(url, file, (p) => {
      const tick = Math.floor(p.received / (p.total ? p.total / 20 : 16 * 2 ** 20))
      if (tick !== shown) step.progress?.(progressLine(url, p))
      shown = tick
    })
    log.ok(`${basename(file)} fetched (${url})`)
  }
}
