// Files of a lab machine as machined serves them (Read, List, Mounts, Dmesg), from the machine's sysroot.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, posix } from 'node:path'
import { ownerOf } from '../file-owners.ts'
import { paths, type LabNode } from '../state.ts'
import { kernelLog, sysrootPath } from '../machine-files.ts'
import { runtimeConfigFor, parseMachineConfig } from '../machine-config.ts'
import { ModelError } from './errors.ts'
import { renderProcInterrupts } from '../interrupts.ts'
import { procFile } from '../containers.ts'

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64')

/** machined Read: a missing file is NotFound (v1.10.3 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go Read: os.Stat, then codes.NotFound on os.IsNotExist). */
export function Read(n: LabNode, req: { path?: string }): unknown[] {
  const path = req.path ?? ''
  // the kernel counts interrupts as they come: rendered at each read from the IRQs of this boot (lab/interrupts.ts)
  const clean = posix.normalize('/' + path).replace(/(.)\/$/, '$1')
  if (clean === '/proc/interrupts')
    return [{ bytes: b64(renderProcInterrupts(n.hardware, n.cmdline, Date.now() - Date.parse(n.bootedAt ?? ''))) }]
  // a process's files exist while it runs: the lab's are its containers (lab/containers.ts); the kernel renders
  // limits and status at each read from the task (fs/proc/base.c, fs/proc/array.c)
  const proc = procFile(n, clean)
  if (proc === undefined) throw new ModelError('NotFound', `stat ${path}: no such file or directory`)
  if (proc !== null) return [{ bytes: b64(proc) }]
  const f = sysrootPath(n, path)
  if (!existsSync(f)) throw new ModelError('NotFound', `stat ${path}: no such file or directory`)
  if (statSync(f).isDirectory()) throw new ModelError('Unknown', `read ${path}: is a directory`)
  return [{ bytes: b64(readFileSync(f)) }]
}

// Go's os.FileMode: the directory bit is the top one (io/fs ModeDir = 1 << 31)
const MODE_DIR = 2 ** 31

/**
 * machined List (v1alpha1_server.go List, pkg/archiver walker): the root, then its entries depth-first to
 * recursion_depth (0 without recurse: the root alone and its children; -1: unlimited). Name is the full path,
 * relative_name the path below the root ("." for the root). Owner and mode as the machine's filesystem has them
 * (lab/file-owners.ts: what chown/chmod on the node set; the lab's own files belong to this user).
 */
export function List(
  n: LabNode,
  req: { root?: string; recurse?: boolean; recursion_depth?: number; recursionDepth?: number },
): unknown[] {
  let root = req.root ?? '/'
  if (!root.startsWith('/')) root = '/' + root
  root = root.replace(/\/+$/, '') || '/'
  const depthReq = req.recursionDepth ?? req.recursion_depth ?? 0
  const maxDepth = req.recurse ? (depthReq === 0 ? Infinity : depthReq) : 1
  const abs = sysrootPath(n, root)
  if (!existsSync(abs)) throw new ModelError('Unknown', `lstat ${root}: no such file or directory`)
  const out: unknown[] = []
  const walk = (file: string, rel: string, depth: number) => {
    const st = statSync(file)
    const full = rel === '.' ? root : posix.join(root, rel)
    const own = ownerOf(paths.root(n.name), full)
    const perm = own ? parseInt(own.mode, 8) : st.mode & 0o777
    out.push({
      name: full,
      relative_name: rel,
      size: String(st.size),
      mode: (st.isDirectory() ? MODE_DIR : 0) + perm,
      modified: String(Math.floor(st.mtimeMs / 1000)),
      is_dir: st.isDirectory(),
      uid: own?.uid ?? 0,
      gid: own?.gid ?? 0,
    })
    if (st.isDirectory() && depth < maxDepth)
      for (const e of readdirSync(file).sort()) walk(join(file, e), rel === '.' ? e : `${rel}/${e}`, depth + 1)
  }
  walk(abs, '.', 0)
  return out
}

/** machined Mounts: /proc/mounts with each filesystem's size (statfs); the lab's volumes as the config mounts them. */
export function Mounts(n: LabNode): unknown {
  const stats: unknown[] = [
    { filesystem: '/dev/sda5', size: String(100 * 2 ** 30), available: String(90 * 2 ** 30), mounted_on: '/var' },
  ]
  const f = paths.config(n.name)
  if (existsSync(f)) {
    const rc = runtimeConfigFor(parseMachineConfig(readFileSync(f, 'utf8'), f), n.hardware, n.installDisk)
    for (const m of rc.mounts) {
      const disk = n.hardware.disks.find((d) => d.dev === m.device)
      const size = disk?.sizeBytes ?? 0
      stats.push({
        filesystem: `${m.device}p1`,
        size: String(size),
        available: String(Math.floor(size * 0.98)),
        mounted_on: m.mountPoint,
      })
    }
  }
  return { messages: [{ stats }] }
}

/** machined Dmesg: the kernel log, one message per record as /dev/kmsg gives it. */
export function Dmesg(n: LabNode): unknown[] {
  return kernelLog(n).map((l) => ({ bytes: b64(`kern: ${l.level.padStart(7)}: [${n.bootedAt ?? ''}]: ${l.msg}\n`) }))
}
