// Installing Talos onto bare metal from a rescue system: check the target disk, stream the image with
// `dd`, read it back and compare checksums, reboot. Pure helpers first, SSH at the bottom.
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { REPO_ROOT } from '../config/cluster.ts'
import { RescueSession } from '../lib/host/ssh.ts'
import type { InventoryNode } from '../config/inventory.ts'

interface RescueDisk {
  dev: string
  sizeBytes: number
  model: string
  serial: string
  type: string
}

/** `lsblk -b -J -o NAME,SIZE,MODEL,SERIAL,TYPE` → whole disks. */
export function parseLsblk(json: string): RescueDisk[] {
  const doc = JSON.parse(json) as {
    blockdevices?: {
      name: string
      size: number | string
      model?: string | null
      serial?: string | null
      type?: string
    }[]
  }
  return (doc.blockdevices ?? [])
    .filter((d) => (d.type ?? 'disk') === 'disk')
    .map((d) => ({
      dev: d.name.startsWith('/dev/') ? d.name : `/dev/${d.name}`,
      sizeBytes: Number(d.size),
      model: (d.model ?? '').trim(),
      serial: (d.serial ?? '').trim(),
      type: d.type ?? 'disk',
    }))
}

/** Inventory pins a host key as `SHA256:...` or `file:PATH` (a file holding that string, e.g. from the lab). */
export function resolveFingerprint(spec: string, baseDir = REPO_ROOT): string {
  if (spec.startsWith('SHA256:')) return spec
  if (spec.startsWith('file:')) {
    const p = spec.slice(5)
    const file = isAbsolute(p) ? p : join(baseDir, p)
    if (!existsSync(file)) throw new Error(`host key fingerprint file ${file} does not exist`)
    const fp = readFileSync(file, 'utf8')
      .trim()
      .split(/\s+/)
      .find((w) => w.startsWith('SHA256:'))
    if (!fp) throw new Error(`${file} holds no SHA256: fingerprint`)
    return fp
  }
  throw new Error(`host key fingerprint must be SHA256:... or file:PATH (got ${JSON.stringify(spec)})`)
}

interface LocalImage {
  file: string
  sizeBytes: number
  sha256: string
}

/** An image file on this workstation (fetched into the cache, or the inventory's file://), with its checksum. */
export async function localImage(file: string): Promise<LocalImage> {
  if (!existsSync(file)) throw new Error(`image ${file} does not exist`)
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return { file, sizeBytes: statSync(file).size, sha256: hash.digest('hex') }
}

interface DiskPlan {
  node: string
  disk: RescueDisk
  image: LocalImage
}

/** Refuse before writing anything: the inventory's disk must exist and hold the image. */
export function planDiskWrite(node: InventoryNode, disks: RescueDisk[], image: LocalImage): DiskPlan {
  const disk = disks.find((d) => d.dev === node.installDisk)
  if (!disk) {
    const seen =
      disks.map((d) => `${d.dev} (${d.model || 'no model'}, ${(d.sizeBytes / 1e9).toFixed(0)} GB)`).join(', ') || 'none'
    throw new Error(`${node.name}: install disk ${node.installDisk} is not on the host; it has ${seen}`)
  }
  if (disk.sizeBytes < image.sizeBytes)
    throw new Error(`${node.name}: ${disk.dev} holds ${disk.sizeBytes} bytes, the image needs ${image.sizeBytes}`)
  return { node: node.name, disk, image }
}

export const sha256Command = (dev: string, bytes: number) => `head -c ${bytes} ${dev} | sha256sum`
export const parseSha256sum = (out: string) => out.trim().split(/\s+/)[0] ?? ''

export async function listDisks(s: RescueSession): Promise<RescueDisk[]> {
  return parseLsblk(await s.mustExec('lsblk -b -J -o NAME,SIZE,MODEL,SERIAL,TYPE'))
}

/** Stream the image to the disk, then read back exactly its length and compare checksums. */
export async function writeAndVerify(
  s: RescueSession,
  plan: DiskPlan,
  onProgress: (written: number, total: number) => void,
): Promise<void> {
  let written = 0
  await s.mustExec(`dd of=${plan.disk.dev} bs=4M`, createReadStream(plan.image.file), (n) => {
    written += n
    onProgress(written, plan.image.sizeBytes)
  })
  await s.mustExec('sync')
  const seen = parseSha256sum(await s.mustExec(sha256Command(plan.disk.dev, plan.image.sizeBytes)))
  if (seen !== plan.image.sha256)
    throw new Error(
      `${plan.node}: checksum of ${plan.disk.dev} is ${seen}, image is ${plan.image.sha256}: not rebooting`,
    )
}
