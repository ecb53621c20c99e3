// Building the runbook's context (inventory, wrappers) and printing the banner. Failing here has touched nothing.
import { log, setLogSink } from './log.ts'
import { formatBanner, type ClusterIdentity } from './banner.ts'
import type { SharedShell } from '../host/shared-shell.ts'
import { UsageError, type FlagSpecs, type ParsedFlags } from './flags.ts'
import { errorMessage } from './format.ts'
import type { RunbookContextBase, RunbookDef, RunnerExtras } from './types.ts'

interface Identity {
  cluster: ClusterIdentity
  talosctlBin?: string
  shell?: SharedShell
}

/** The cluster the context names. Typed, but checked too: a target other than lab/production must never run. */
function identityOf(id: string, ctx: RunbookContextBase): Identity {
  const c = ctx.cluster as Partial<ClusterIdentity> | undefined
  if (!c || typeof c.name !== 'string' || typeof c.target !== 'string') {
    throw new Error(`context() of ${id} returned no cluster identity: return { cluster: inv.cluster, ... }`)
  }
  if (c.target !== 'lab' && c.target !== 'production') {
    throw new Error(`cluster ${c.name}: target must be lab or production, got ${JSON.stringify(c.target)}`)
  }
  return {
    cluster: { name: c.name, target: c.target, endpoint: String(c.endpoint ?? '') },
    talosctlBin: ctx.talosctlBin,
    shell: ctx.shell,
  }
}

/**
 * The context with the runner's extras, and the cluster it names; when it cannot be built (logged), whether that was
 * bad input (a bad inventory is a UsageError, exit 2 as for a bad flag) or another failure.
 * Lines the context logs (commands it ran to find things out) are held back so the banner is printed first.
 */
export async function buildContext<F extends FlagSpecs, C extends RunbookContextBase>(
  def: RunbookDef<F, C>,
  flags: ParsedFlags<F>,
): Promise<{ ctx: C & RunnerExtras<F>; ident: Identity } | { failed: 'usage' | 'failed' }> {
  const held: string[] = []
  const prevSink = setLogSink((line) => held.push(line))
  let ctx: C & RunnerExtras<F>
  let ident: Identity
  try {
    const built = await def.context(flags)
    ident = identityOf(def.id, built)
    ctx = Object.assign(built, { dryRun: flags.dryRun, flags })
  } catch (e) {
    setLogSink(prevSink)
    for (const line of held) log.info(line)
    log.error(`${def.id}: cannot start: ${errorMessage(e)}`)
    // a flag whose value only the context can judge (a duration, a number) is still a bad flag, and a bad inventory
    // is bad input: both exit 2
    return { failed: e instanceof UsageError ? 'usage' : 'failed' }
  }
  setLogSink(prevSink)
  const banner = formatBanner({
    id: def.id,
    title: def.title,
    cluster: ident.cluster,
    inventoryFile: flags.inventory,
    dryRun: flags.dryRun,
    talosctlBin: ident.talosctlBin,
    shell: ident.shell,
  })
  for (const line of banner) log.info(line)
  for (const line of held) log.info(line)
  return { ctx, ident }
}
