// The rule every runbook that changes a running cluster obeys first: etcd must still have quorum. Without it
// nothing can be written to etcd or through the Kubernetes API, so a step would only hang until its timeout, and
// an apply-config or reboot of one more control-plane node would make things worse. Refuse, say why and what to do.
import { log } from '../lib/runner/log.ts'
import { controlPlanes, type Cluster } from '../config/cluster.ts'
import { etcdView, isBootstrapped, type EtcdView } from './etcd-view.ts'
import { RefusedError, type StepDef } from '../lib/runner/runner.ts'
import type { ServiceStatus } from '../lib/talos/parse.ts'

/** etcd states of a member that is gone until someone acts (a crash, a stop): it will not come back by waiting. */
const GONE = new Set(['Finished', 'Failed'])

/**
 * A member whose etcd exits at every start: Talos's restart runner shows the service Waiting with "Error running …,
 * going to restart forever" (v1.10.3 internal/app/machined/pkg/system/runner/restart/restart.go; etcd runs with
 * restart.Forever, services/etcd.go). It will not vote until someone repairs it.
 */
export function crashLooping(s: ServiceStatus): boolean {
  return s.state === 'Waiting' && /going to restart/.test(s.events?.[0]?.message ?? s.lastEvent ?? '')
}

export interface QuorumVerdict {
  /**
   * false when the cluster is bootstrapped and too few members can run, or when it cannot be told: no control-plane
   * node runs etcd and some did not answer (a silent one may run it).
   */
  ok: boolean
  bootstrapped: boolean
  needed: number
  alive: string[]
  /** Control-plane node → why its member cannot vote now. */
  down: Record<string, string>
  message: string
}

/** Quorum from what each control-plane node says about its etcd service (or that it did not answer). */
export function judgeQuorum(cps: { name: string; address: string }[], v: EtcdView): QuorumVerdict {
  const needed = Math.floor(cps.length / 2) + 1
  const bootstrapped = isBootstrapped(v)
  const down: Record<string, string> = {}
  for (const n of cps) {
    const s = v.service[n.name]
    if (v.unreachable[n.name] !== undefined)
      down[n.name] = `${n.address} does not answer (${firstLine(v.unreachable[n.name]!)})`
    else if (s && GONE.has(s.state)) down[n.name] = `etcd is ${s.state}`
    else if (s && crashLooping(s)) down[n.name] = `etcd is crash-looping (${s.events?.[0]?.message ?? s.lastEvent})`
  }
  const alive = cps.map((n) => n.name).filter((n) => !(n in down))
  const list = Object.entries(down)
    .map(([n, why]) => `${n}: ${why}`)
    .join('; ')
  if (!bootstrapped) return judgeUnbootstrapped(cps, v, { needed, alive, down })
  if (alive.length >= needed) {
    const msg = Object.keys(down).length
      ? `etcd keeps quorum with ${alive.length} of ${cps.length} members (${alive.join(', ')}); down: ${list}`
      : `etcd quorum: all ${cps.length} members up`
    return { ok: true, bootstrapped, needed, alive, down, message: msg }
  }
  const missing = needed - alive.length
  return {
    ok: false,
    bootstrapped,
    needed,
    alive,
    down,
    message:
      `etcd has lost quorum: only ${alive.length} of ${cps.length} control-plane members can run (${needed} needed); ${list}. ` +
      `Nothing can be written to etcd or the Kubernetes API until ${missing} more ${missing === 1 ? 'is' : 'are'} back: ` +
      `power on or repair ${Object.keys(down).join(' / ')} (see "Quorum lost" in the README), then re-run this runbook; ` +
      `if their etcd data is gone for good, restore the newest snapshot with npx zx runbooks/11-etcd-recover.ts. Nothing was changed.`,
  }
}

/**
 * No control-plane node runs etcd. "Not bootstrapped" needs every one of them to say so (etcd not Running, or
 * maintenance mode: no config, so no etcd); a node that did not answer may run etcd, so silence is a refusal.
 */
function judgeUnbootstrapped(
  cps: { name: string; address: string }[],
  v: EtcdView,
  q: Pick<QuorumVerdict, 'needed' | 'alive' | 'down'>,
): QuorumVerdict {
  const said = cps.flatMap((n) => {
    const m = v.maintenance?.[n.name]
    const s = v.service[n.name]
    return m ? [`${n.name}: maintenance mode`] : s ? [`${n.name}: etcd ${s.state}`] : []
  })
  const silent = cps.filter(
    (n) => v.unreachable[n.name] !== undefined || (!v.service[n.name] && !v.maintenance?.[n.name]),
  )
  if (silent.length === 0)
    return {
      ok: true,
      bootstrapped: false,
      ...q,
      message: `etcd is not bootstrapped yet: no quorum to lose (${said.join(', ')})`,
    }
  const why = silent
    .map((n) => `${n.name}: ${n.address} does not answer (${firstLine(v.unreachable[n.name] ?? 'no answer')})`)
    .join('; ')
  const names = silent.map((n) => n.name).join(', ')
  const message =
    said.length === 0
      ? `no control-plane node answers, so nothing shows whether etcd runs or has quorum: ${why}. ` +
        `Bring ${names} back or fix the network (and check the talosconfig), then re-run this runbook. Nothing was changed.`
      : `cannot tell whether etcd was bootstrapped: ${said.join(', ')}, but ${why}, and etcd may run there. ` +
        `Bring ${names} back or fix the network, then re-run this runbook. Nothing was changed.`
  return { ok: false, bootstrapped: false, ...q, message }
}

/** The cause without the command line in front of it ("<talosctl ...> failed (exit 1) on X: <cause>"). */
const firstLine = (s: string) => {
  const line = s.trim().split('\n')[0]!
  return (/ failed \(exit \d+\)(?: on [^:]+)?: (.+)$/.exec(line)?.[1] ?? line).slice(0, 240)
}

async function checkQuorum(c: Cluster): Promise<QuorumVerdict> {
  return judgeQuorum(controlPlanes(c.inv), await etcdView(c))
}

/**
 * The first step of every runbook that changes a running cluster: refuse without etcd quorum. With
 * `requireBootstrapped` (runbooks that need Kubernetes) it also refuses when no member runs: then either 03 has not
 * run, or every control-plane node is down, and nothing after this step could work.
 */
export function quorumStep<C extends Cluster>(opts: { requireBootstrapped?: boolean } = {}): StepDef<C> {
  return {
    name: 'etcd-quorum',
    describe: 'refuse to change anything while etcd has lost quorum',
    targets: (c) => controlPlanes(c.inv).map((n) => n.name),
    async run(c) {
      const v = await checkQuorum(c)
      if (!v.ok) throw new QuorumLostError(v.message)
      if (opts.requireBootstrapped && !v.bootstrapped) {
        const why = Object.keys(v.down).length
          ? ` (${Object.entries(v.down)
              .map(([n, w]) => `${n}: ${w}`)
              .join('; ')})`
          : ''
        throw new QuorumLostError(
          `no control-plane node runs etcd${why}: bootstrap the cluster with 03-bootstrap, or bring the control-plane nodes back, then re-run. Nothing was changed.`,
        )
      }
      if (Object.keys(v.down).length) log.warn(`  ${v.message}`)
      else log.info(`  ${v.message}`)
      return { alive: v.alive, down: Object.keys(v.down), bootstrapped: v.bootstrapped }
    },
  }
}

export class QuorumLostError extends RefusedError {
  override name = 'QuorumLostError'
}
