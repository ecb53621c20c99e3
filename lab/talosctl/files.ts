// talosctl read / list / dmesg, served from the node's sysroot (nodes/<name>/root).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join, normalize } from 'node:path'
import type { RunContext } from './context.ts'
import { RpcFailure, nodeErrors, perNode, rpcError, withClient, type Session } from './common.ts'
import { table } from './tabwriter.ts'
import { paths, type LabNode } from '../state.ts'
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
    if (!existsSync(f)) throw new Error(rpcError('Unknown', `stat ${path}: no such file or directory`))
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
    const out: { name: string; mode: string; size: number; mtime: Date }[] = []
    const walk = (abs: string, rel: string, d: number) => {
      const st = statSync(abs)
      out.push({ name: rel, mode: modeString(st.mode, st.isDirectory()), size: st.size, mtime: st.mtime })
      if (st.isDirectory() && d < depth) for (const e of readdirSync(abs).sort()) walk(join(abs, e), rel === '.' ? e : `${rel}/${e}`, d + 1)
    }
    walk(root, '.', 0)
    return out
  })
  const err = nodeErrors(results)
  const rows: string[][] = [long ? ['NODE', 'MODE', 'UID', 'GID', 'SIZE(B)', 'LASTMOD', 'NAME'] : ['NODE', 'NAME']]
  for (const r of results) {
    if (r.error) continue
    for (const e of r.value!) rows.push(long ? [r.addr, e.mode, '0', '0', String(e.size), e.mtime.toDateString().slice(4, 10) + ' ' + e.mtime.toTimeString().slice(0, 5), e.name] : [r.addr, e.name])
  }
  io.out(table(rows))
  if (err) throw new Error(err)
}

function modeString(mode: number, dir: boolean): string {
  const rwx = ['---', '--x', '-w-', '-wx', 'r--', 'r-x', 'rw-', 'rwx']
  return (dir ? 'd' : '-') + rwx[(mode >> 6) & 7] + rwx[(mode >> 3) & 7] + rwx[mode & 7]
}

/** Kernel log lines as talosctl dmesg prints them: "<node>: kern: <level>: [<time>]: <msg>". */
export function kernelLog(n: LabNode): { level: string; msg: string }[] {
  const lines: { level: string; msg: string }[] = [
    { level: 'notice', msg: `Linux version 6.12.28-talos (@buildkitsandbox) (gcc (GCC) 14.2.0, GNU ld (GNU Binutils) 2.44) #1 SMP` },
    { level: 'info', msg: `Command line: ${n.cmdline}` },
  ]
  const mem = n.hardware.numaMemoryMiB
  mem.forEach((m, i) => lines.push({ level: 'info', msg: `NUMA: Node ${i} [mem ${m} MiB]` }))
  const hp = /hugepages=([^\s]+)/.exec(n.cmdline)
  if (hp) lines.push({ level: 'info', msg: `HugeTLB: registered 1.00 GiB page size, pre-allocated ${hp[1]}` })
  lines.push({ level: 'notice', msg: `Kernel command line: ${n.cmdline}` })
  for (const d of n.hardware.disks) lines.push({ level: 'info', msg: `${d.dev.replace('/dev/', '')}: ${d.model} ${d.serial}` })
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
