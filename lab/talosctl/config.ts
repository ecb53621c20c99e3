// `talosctl config endpoint|node`: set the current context's endpoints or default nodes in the talosconfig.
import { chmodSync, writeFileSync } from 'node:fs'
import { stringify } from 'yaml'
import { loadTalosconfig, talosconfigPath } from './common.ts'
import type { RunContext } from './context.ts'

function setList(ctx: RunContext, key: 'endpoints' | 'nodes'): void {
  const cfg = loadTalosconfig(ctx.global)
  const name = ctx.global.context || cfg.context
  const cur = name ? cfg.contexts?.[name] : undefined
  if (!name || !cur) throw new Error('no context is set')
  cur[key] = ctx.args
  const { path } = talosconfigPath(ctx.global)
  writeFileSync(path, stringify(cfg), { mode: 0o600 })
  chmodSync(path, 0o600)
}

export const endpoint = async (ctx: RunContext) => setList(ctx, 'endpoints')
export const node = async (ctx: RunContext) => setList(ctx, 'nodes')
