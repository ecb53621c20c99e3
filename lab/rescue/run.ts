// Runs parsed rescue commands against one simulated machine. The disks are files under
// <lab>/ssh/<node>/disks/<dev>.img holding exactly what was written: nothing here ever opens a real device.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  appendFileSync,
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
} from 'node:fs'
import { basename, join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseImageHeader, HEADER_BYTES, ZSTD_MAGIC } from '../images.ts'
import { forgetProcess } from '../processes.ts'
import { loadCluster, loadNode, paths, updateNode, type LabDisk, type LabNode } from '../state.ts'
import { parseCommandLine, type RescueOp } from './parse.ts'
import { OS_RELEASE, RESCUE_CMDLINE, ddStats, lsblkJson, lsblkTable, sha256sumLine, unameOutput } from './outputs.ts'

export interface RescueIo {
  stdin: Readable
  stdout: Writable
  stderr: Writable
}

export const diskImage = (node: string, dev: string) => join(paths.sshDir(node), 'disks', `${basename(dev)}.img`)
export const commandsLog = (node: string) => join(paths.sshDir(node), 'commands.log')

const write = (w: Writable, s: string) => new Promise<void>((r) => (s ? w.write(s, () => r()) : r()))

function findDisk(n: LabNode, dev: string): LabDisk | undefined {
  return n.hardware.disks.find((d) => d.dev === dev)
}

/** Run one command line as the rescue system's sh would; resolves to its exit status. */
export async function runRescueCommand(node: string, line: string, io: RescueIo): Promise<number> {
  mkdirSync(paths.sshDir(node), { recursive: true })
  appendFileSync(commandsLog(node), `${new Date().toISOString()} ${JSON.stringify(line)}\n`, { mode: 0o600 })
  if (line.trim() === '') {
    await write(io.stderr, 'lab rescue system: interactive shells are not simulated; pass a command (ssh host CMD)\n')
    return 1
  }
  let status = 0
  for (const step of parseCommandLine(line)) {
    if (step.after === '&&' && status !== 0) continue
    status = await runOp(node, step.op, io)
  }
  return status
}

async function runOp(node: string, op: RescueOp, io: RescueIo): Promise<number> {
  switch (op.kind) {
    case 'fail':
      await write(io.stderr, op.stderr)
      return op.code
    case 'true':
    case 'sync':
      return 0
    case 'uname':
      await write(io.stdout, unameOutput(op.flags))
      return 0
    case 'cat':
      if (op.path === '/etc/os-release' || op.path === '/usr/lib/os-release') {
        await write(io.stdout, OS_RELEASE)
        return 0
      }
      if (op.path === '/proc/cmdline') {
        await write(io.stdout, RESCUE_CMDLINE + '\n')
        return 0
      }
      await write(io.stderr, `cat: ${op.path}: No such file or directory\n`)
      return 1
    case 'lsblk': {
      const disks = loadNode(node).hardware.disks
      await write(io.stdout, op.json ? lsblkJson(disks, op.columns, op.bytes) : lsblkTable(disks, op.columns, op.bytes))
      return 0
    }
    case 'write':
      return writeDisk(node, op, io)
    case 'sha256':
      return sha256Disk(node, op.dev, op.limit, io)
    case 'reboot':
      return reboot(node, io)
  }
}

async function writeDisk(node: string, op: Extract<RescueOp, { kind: 'write' }>, io: RescueIo): Promise<number> {
  const n = loadNode(node)
  if (!findDisk(n, op.dev)) {
    io.stdin.resume() // drain so the client's stream ends cleanly
    const msg =
      op.tool === 'dd'
        ? `dd: failed to open '${op.dev}': No such file or directory\n`
        : `sh: 1: cannot create ${op.dev}: No such file or directory\n`
    await write(io.stderr, msg)
    return 1
  }
  const file = diskImage(node, op.dev)
  mkdirSync(join(paths.sshDir(node), 'disks'), { recursive: true })
  const started = process.hrtime.bigint()
  let source: Readable = io.stdin
  let zstdErr = ''
  let zstdExit: Promise<number> = Promise.resolve(0)
  if (op.decompress === 'zstd') {
    const z = spawn('/usr/bin/zstd', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] })
    z.stderr.on('data', (d: Buffer) => (zstdErr += d.toString()))
    zstdExit = new Promise((r) => z.once('close', (c) => r(c ?? 1)))
    io.stdin.pipe(z.stdin)
    z.stdin.on('error', () => {})
    source = z.stdout
  }
  let bytes = 0
  source.on('data', (b: Buffer) => (bytes += b.length))
  await pipeline(source, createWriteStream(file, { mode: 0o600 }))
  const zcode = await zstdExit
  if (zcode !== 0) await write(io.stderr, zstdErr || `zstd: /*stdin*\\: unsupported format\n`)
  const secs = Number(process.hrtime.bigint() - started) / 1e9
  if (op.tool === 'dd' && !op.quiet) await write(io.stderr, ddStats(bytes, op.blockSize, secs))
  return zcode !== 0 ? 1 : 0
}

async function sha256Disk(node: string, dev: string, limit: number | undefined, io: RescueIo): Promise<number> {
  const n = loadNode(node)
  const name = limit === undefined ? dev : '-'
  if (!findDisk(n, dev)) {
    await write(
      io.stderr,
      limit === undefined
        ? `sha256sum: ${dev}: No such file or directory\n`
        : `head: cannot open '${dev}' for reading: No such file or directory\n`,
    )
    return 1
  }
  const file = diskImage(node, dev)
  if (!existsSync(file)) {
    await write(
      io.stderr,
      `lab rescue: nothing was ever written to ${dev} on ${node}; the simulated disk has no content to checksum\n`,
    )
    return 1
  }
  const hash = createHash('sha256')
  const size = statSync(file).size
  const take = limit === undefined ? size : Math.min(limit, size)
  if (take > 0)
    for await (const chunk of createReadStream(file, { start: 0, end: take - 1 })) hash.update(chunk as Buffer)
  // past what was written, a blank disk reads zeros
  if (limit !== undefined && limit > size) {
    const zeros = Buffer.alloc(Math.min(limit - size, 1 << 20))
    for (let left = limit - size; left > 0; left -= zeros.length)
      hash.update(left >= zeros.length ? zeros : zeros.subarray(0, left))
  }
  await write(io.stdout, sha256sumLine(hash.digest('hex'), name))
  return 0
}

function firstSector(file: string): Buffer {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(HEADER_BYTES)
    const n = readSync(fd, buf, 0, HEADER_BYTES, 0)
    return buf.subarray(0, n)
  } finally {
    closeSync(fd)
  }
}

/** Which disk the firmware would boot Talos from: the first disk (hardware order) holding a Talos image. */
export function bootableDisk(
  n: LabNode,
): { dev: string; talosVersion: string; schematic?: string; extraKernelArgs?: string[] } | { reason: string } {
  const notes: string[] = []
  for (const d of n.hardware.disks) {
    const file = diskImage(n.name, d.dev)
    if (!existsSync(file)) continue
    const head = firstSector(file)
    const h = parseImageHeader(head)
    if (h)
      return { dev: d.dev, talosVersion: h.talosVersion, schematic: h.schematic, extraKernelArgs: h.extraKernelArgs }
    if (head.subarray(0, 4).equals(ZSTD_MAGIC))
      notes.push(`${d.dev} holds zstd-compressed data (the .raw.zst image written without decompressing it)`)
    else notes.push(`${d.dev} holds no Talos image`)
  }
  return { reason: notes.length ? notes.join('; ') : 'no disk was written' }
}

/**
 * `reboot` from the rescue system: the machine comes back from its disk. With a Talos image on a disk it
 * boots Talos in maintenance mode, and the rescue system (this node's sshd) is gone; otherwise it comes
 * back into the rescue system, as a machine with nothing bootable that netboots rescue again would.
 */
async function reboot(node: string, io: RescueIo): Promise<number> {
  const n = loadNode(node)
  const boot = bootableDisk(n)
  if ('reason' in boot) {
    appendFileSync(
      commandsLog(node),
      `${new Date().toISOString()} reboot: nothing bootable (${boot.reason}); back in the rescue system\n`,
    )
    await write(
      io.stderr,
      `lab: ${node} rebooted but found nothing bootable (${boot.reason}); it is back in the rescue system\n`,
    )
    return 0
  }
  // loaded here only: every other command starts faster without them
  const { TALOS_DEFAULT_CMDLINE } = await import('../machine-config.ts')
  const { createSysroot } = await import('../sysroot.ts')
  const { EMPTY_SCHEMATIC_ID } = await import('../../lib/talos/schematic.ts')
  const booted = updateNode(node, (x) => {
    x.stage = 'maintenance'
    x.talosVersion = boot.talosVersion
    x.installDisk = boot.dev
    // the image's UKI carries its schematic's kernel args: the kernel boots with them, whatever the config says later
    x.cmdline = [TALOS_DEFAULT_CMDLINE, ...(boot.extraKernelArgs ?? [])].join(' ')
    x.bootSchematic = boot.schematic ?? EMPTY_SCHEMATIC_ID
    x.bootedAt = new Date().toISOString()
  })
  createSysroot(paths.root(node), booted.hardware, { cmdline: booted.cmdline, hostname: node, installDisk: boot.dev })
  appendFileSync(
    commandsLog(node),
    `${new Date().toISOString()} reboot: booted Talos ${boot.talosVersion} from ${boot.dev} (maintenance mode); rescue sshd stops\n`,
  )
  // The rescue system is gone: stop this node's sshd (the listener; this session ends when we exit).
  const sshd = loadCluster().processes.find((p) => p.kind === 'sshd' && p.node === node)
  if (sshd) {
    forgetProcess('sshd', node)
    try {
      process.kill(sshd.pid, 'SIGTERM')
    } catch {}
  }
  return 0
}
