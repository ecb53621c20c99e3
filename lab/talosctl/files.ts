// talosctl read / list / dmesg, served from the node's sysroot (nodes/<name>/root).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join, normalize, posix } from 'node:path'
import { ownerOf } from '../file-owners.ts'
import type { RunContext } from './context.ts'
import { RpcFailure, nodeErrors, perNode, rpcError, withClient, type Session } from './common.ts'
import { table } from './tabwriter.ts'
import { paths, type LabNode } from '../state.ts'
import { allocateHugepages } from '../sysroot.ts'
import { hugepagesFromCmdline } from '../../lib/host/procfs.ts'
import * as io from './io.ts'

async function session(ctx: RunContext): Promise<Session> {
  try {
    return await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(e.message)
    throw e
  }
}

/** Map an absolute node path into the sysroot, refusing to escape it. */
export function sysrootPath(n: LabNode, p: string): string {
  const clean = normalize('/' + p)
  return join(paths.root(n.name), clean)
}

export async function read(ctx: RunContext): Promise<void> {
  const s = await session(ctx)
  if (s.nodes.length > 1) throw new Error('command "read" is not supported with multiple nodes')
  const path = ctx.args[0]
  const results = await perNode(s, async (n) => {
    const f = sysrootPath(n, path)
    // machined's Read: os.IsNotExist → codes.NotFound (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go at v1.10.3)
    if (!existsSync(f)) throw new Error(rpcError('NotFound', `stat ${path}: no such file or directory`))
    if (statSync(f).isDirectory()) throw new Error(rpcError('Unknown', `read ${path}: is a directory`))
    return readFileSync(f)
  })
  const err = nodeErrors(results)
  if (err) throw new Error(err)
  io.out(results[0].value!)
}

export async function list(ctx: RunContext): Promise<void> {
  const s = await session(ctx)
  const dir = ctx.args[0] ?? '/'
  const long = ctx.flags.long as boolean
  const depth = ctx.flags.recurse ? Infinity : (ctx.flags.depth as number)
  const results = await perNode(s, async (n) => {
    const root = sysrootPath(n, dir)
    if (!existsSync(root)) throw new Error(rpcError('Unknown', `lstat ${dir}: no such file or directory`))
    const out: { name: string; mode: string; uid: number; gid: number; size: number; mtime: Date }[] = []
    const walk = (abs: string, rel: string, d: number) => {
      const st = statSync(abs)
      // owner and mode as chown/chmod on the node set them (lab/file-owners.ts); otherwise root's, as Talos creates
      const own = ownerOf(paths.root(n.name), posix.join(dir, rel))
      const mode = own ? parseInt(own.mode, 8) : st.mode
      out.push({
        name: rel,
        mode: modeString(mode, st.isDirectory()),
        uid: own?.uid ?? 0,
        gid: own?.gid ?? 0,
        size: st.size,
        mtime: st.mtime,
      })
      if (st.isDirectory() && d < depth)
        for (const e of readdirSync(abs).sort()) walk(join(abs, e), rel === '.' ? e : `${rel}/${e}`, d + 1)
    }
    walk(root, '.', 0)
    return out
  })
  const err = nodeErrors(results)
  // cmd/talosctl/cmd/talos/list.go (v1.10.3): the long listing always has these columns, LABEL being the SELinux label
  const rows: string[][] = [
    long ? ['NODE', 'MODE', 'UID', 'GID', 'SIZE(B)', 'LASTMOD', 'LABEL', 'NAME'] : ['NODE', 'NAME'],
  ]
  for (const r of results) {
    if (r.error) continue
    for (const e of r.value!)
      rows.push(
        long
          ? [r.addr, e.mode, String(e.uid), String(e.gid), String(e.size), lastMod(e.mtime), '', e.name]
          : [r.addr, e.name],
      )
  }
  io.out(table(rows))
  if (err) throw new Error(err)
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000

/** list.go: Go's "Jan _2 15:04:05" within six months, else "Jan _2 2006 15:04" (local time). */
function lastMod(t: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0')
  const day = `${MONTHS[t.getMonth()]} ${String(t.getDate()).padStart(2, ' ')}`
  const hm = `${p2(t.getHours())}:${p2(t.getMinutes())}`
  return Date.now() - t.getTime() < SIX_MONTHS_MS
    ? `${day} ${hm}:${p2(t.getSeconds())}`
    : `${day} ${t.getFullYear()} ${hm}`
}

/** Go's os.FileMode.String() for a directory or regular file: d/- and rwx triplets. */
function modeString(mode: number, dir: boolean): string {
  const rwx = ['---', '--x', '-w-', '-wx', 'r--', 'r-x', 'rw-', 'rwx']
  return (dir ? 'd' : '-') + rwx[(mode >> 6) & 7] + rwx[(mode >> 3) & 7] + rwx[mode & 7]
}

/** Kernel log lines as talosctl dmesg prints them: "<node>: kern: <level>: [<time>]: <msg>". */
export function kernelLog(n: LabNode): { level: string; msg: string }[] {
  const lines: { level: string; msg: string }[] = [
    {
      level: 'notice',
      msg: `Linux version 6.12.28-talos (@buildkitsandbox) (gcc (GCC) 14.2.0, GNU ld (GNU Binutils) 2.44) #1 SMP`,
    },
    { level: 'info', msg: `Command line: ${n.cmdline}` },
  ]
  const mem = n.hardware.numaMemoryMiB
  mem.forEach((m, i) => lines.push({ level: 'info', msg: `NUMA: Node ${i} [mem ${m} MiB]` }))
  lines.push({ level: 'notice', msg: `Kernel command line: ${n.cmdline}` })
  // what the kernel said about the boot-time huge pages this command line asks for (mm/hugetlb.c)
  const { allocation } = allocateHugepages(n.hardware, hugepagesFromCmdline(n.cmdline))
  for (const w of allocation.warnings) lines.push({ level: 'warning', msg: w })
  for (const [size, perNode] of Object.entries(allocation.perSize)) {
    const total = perNode.reduce((a, b) => a + b, 0)
    if (total > 0)
      lines.push({
        level: 'info',
        msg: `HugeTLB: registered ${Number(size) >= 1048576 ? `${Number(size) / 1048576}.00 GiB` : `${Number(size) / 1024}.00 MiB`} page size, pre-allocated ${total} pages`,
      })
  }
  for (const d of n.hardware.disks)
    lines.push({ level: 'info', msg: `${d.dev.replace('/dev/', '')}: ${d.model} ${d.serial}` })
  return lines
}

export async function dmesg(ctx: RunContext): Promise<void> {
  const s = await session(ctx)
  const results = await perNode(s, async (n) => kernelLog(n))
  const err = nodeErrors(results)
  for (const r of results) {
    if (r.error) continue
    const ts = (r.node!.bootedAt ?? new Date().toISOString()).replace('Z', '000000Z').replace(/\.(\d{9})\d*Z/, '.$1Z')
    for (const l of r.value!) io.out(`${r.addr}: kern: ${l.level.padStart(7)}: [${ts}]: ${l.msg}\n`)
  }
  if (err) throw new Error(err)
}
