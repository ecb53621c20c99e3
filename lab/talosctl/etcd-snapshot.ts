// `talosctl etcd snapshot <path>`: the node's REAL etcd streams its snapshot (etcd's own Maintenance/Snapshot, here
// through its JSON gateway), written as cmd/talosctl/cmd/talos/etcd.go at v1.10.3 does: one node only, into
// "<path>.part" (0600), refused unless the size is a multiple of 512 plus etcd's appended sha256, then renamed, and
// `etcd snapshot saved to "<path>" (<size> bytes)` printed. (The real command then prints bbolt's "snapshot info"
// line, which the lab leaves out.)
import { openSync, renameSync, rmSync, writeSync, fsyncSync, closeSync } from 'node:fs'
import type { RunContext } from './context.ts'
import { RpcFailure, dial, rpcError, withClient } from './common.ts'
import { etcdClientUrl } from '../node-services.ts'
import { isAlive } from '../processes.ts'
import * as io from './io.ts'

const SHA256_SIZE = 32

async function streamSnapshot(endpoint: string, dest: number): Promise<number> {
  const res = await fetch(`${endpoint}/v3/maintenance/snapshot`, {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  })
  if (!res.ok || !res.body) throw new Error(rpcError('Unknown', `etcd snapshot: ${res.status} ${res.statusText}`))
  let size = 0
  let pending = ''
  const decoder = new TextDecoder()
  const consume = (line: string) => {
    if (!line.trim()) return
    const msg = JSON.parse(line) as { result?: { blob?: string }; error?: { message?: string } }
    if (msg.error) throw new Error(rpcError('Unknown', msg.error.message ?? 'etcd snapshot failed'))
    const blob = Buffer.from(msg.result?.blob ?? '', 'base64')
    writeSync(dest, blob)
    size += blob.length
  }
  for await (const chunk of res.body) {
    pending += decoder.decode(chunk as Uint8Array, { stream: true })
    let nl
    while ((nl = pending.indexOf('\n')) >= 0) {
      consume(pending.slice(0, nl))
      pending = pending.slice(nl + 1)
    }
  }
  consume(pending)
  return size
}

export async function snapshot(ctx: RunContext): Promise<void> {
  let s
  try {
    s = await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(e.message)
    throw e
  }
  if (s.nodes.length > 1) throw new Error('command "etcd snapshot" is not supported with multiple nodes')
  const dbPath = ctx.args[0]!
  const partPath = `${dbPath}.part`
  const dest = openSync(partPath, 'w', 0o600)
  try {
    let n
    try {
      n = await dial(s.nodes[0]!.replace(/:\d+$/, ''), { insecure: false, caPem: s.caPem })
    } catch (e) {
      throw new Error(`error reading file: ${(e as Error).message}`)
    }
    if (n.role !== 'controlplane' || !isAlive(n.etcd.pid))
      throw new Error(
        `error reading file: ${rpcError('Unknown', 'failed to create etcd client: context deadline exceeded')}`,
      )
    const size = await streamSnapshot(etcdClientUrl(n), dest)
    if (size % 512 !== SHA256_SIZE) throw new Error(`sha256 checksum not found (size ${size})`)
    fsyncSync(dest)
    closeSync(dest)
    renameSync(partPath, dbPath)
    io.out(`etcd snapshot saved to ${JSON.stringify(dbPath)} (${size} bytes)\n`)
  } finally {
    try {
      closeSync(dest)
    } catch {}
    rmSync(partPath, { force: true })
  }
}
