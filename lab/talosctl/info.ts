// talosctl version
import type { RunContext } from './context.ts'
import {
  CLIENT_VERSION,
  RpcFailure,
  nodeErrors,
  perNode,
  warn,
  withClient,
  withMaintenanceClient,
  type Session,
} from './common.ts'
import type { LabNode } from '../state.ts'
import * as io from './io.ts'

const SHA = 'dde2cebc'
const GO = 'go1.24.3'

function long(tag: string): string {
  return `\tTag:         ${tag}\n\tSHA:         ${SHA}\n\tBuilt:       \n\tGo version:  ${GO}\n\tOS/Arch:     linux/amd64\n`
}

export async function version(ctx: RunContext): Promise<void> {
  const json = ctx.flags.json as boolean
  if (!json) {
    io.out('Client:\n')
    io.out(ctx.flags.short ? `Talos ${CLIENT_VERSION}\n` : long(CLIENT_VERSION))
    if (ctx.flags.client) return
    io.out('Server:\n')
  }
  let s: Session
  try {
    s = ctx.flags.insecure ? await withMaintenanceClient(ctx.global) : await withClient(ctx.global)
  } catch (e) {
    if (e instanceof RpcFailure) throw new Error(`error getting version: ${e.message}`)
    throw e
  }
  const results = await perNode(s, async (n: LabNode) => n)
  const err = nodeErrors(results)
  const ok = results.filter((r) => r.value)
  if (err && !ok.length) throw new Error(`error getting version: ${err}`)
  if (err) warn(err)
  for (const r of ok) {
    const n = r.value!
    const node = s.proxied ? r.addr : n.address
    if (json) {
      const md = s.proxied ? `"metadata":{"hostname":"${r.addr}"},` : ''
      io.out(
        `{${md}"version":{"tag":"${n.talosVersion}","sha":"${SHA}","goVersion":"${GO}","os":"linux","arch":"amd64"},"platform":{"name":"metal","mode":"metal"},"features":{"rbac":true}}\n`,
      )
      continue
    }
    io.out(`\tNODE:        ${node}\n`)
    io.out(long(n.talosVersion))
    io.out(`\tEnabled:     ${n.stage === 'maintenance' ? '' : 'RBAC'}\n`)
  }
}
