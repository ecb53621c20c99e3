// The steps of 03-bootstrap. The one rule that matters: etcd is bootstrapped exactly once, so every
// decision starts from what the control-plane nodes report now.
import { log } from '../../lib/runner/log.ts'
import { waitFor } from '../../lib/kube/kubectl.ts'
import { controlPlanes, type Cluster } from '../../config/cluster.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import { RefusedError, type StepHandle } from '../../lib/runner/types.ts'
import { CommandError } from '../../lib/host/exec.ts'
import { sleep } from 'zx'
import { evaluateEtcd, type EtcdHealth, type EtcdView } from '../etcd-view.ts'

/**
 * A bootstrap must see every control-plane node: one we cannot see might already run etcd, and one in maintenance
 * mode has no config to bootstrap from. Either way going on would be unsafe or pointless: a refusal (exit 3).
 */
export function assertSafeToBootstrap(v: EtcdView): void {
  const down = Object.keys(v.unreachable)
  if (down.length)
    throw new RefusedError(
      `cannot tell whether etcd was bootstrapped: ${down.join(', ')} did not answer (${Object.values(v.unreachable)[0]}). Bring ${down.length > 1 ? 'them' : 'it'} back, then re-run. Nothing was changed.`,
    )
  const maint = Object.keys(v.maintenance ?? {})
  if (maint.length)
    throw new RefusedError(
      `${maint.join(', ')} ${maint.length > 1 ? 'are' : 'is'} in maintenance mode with no machine config: run 02-configure first, then re-run. Nothing was changed.`,
    )
}

/**
 * machined's refusals of a bootstrap it has not begun (v1.10.3 internal/app/machined/internal/server/v1alpha1/
 * v1alpha1_server.go:413-429): until this boot's CRI is up (runtime IsBootstrapAllowed) and until the clock is
 * synchronised (it waits 5 s for that). Both come before the data dir check and before anything is written, so asking
 * again is safe; every other answer (success, "etcd data directory is not empty", a timeout whose outcome is unknown)
 * is final. On hardware they are what a bootstrap right after 02 meets while the machine is still coming up.
 */
const NOT_YET = [
  {
    said: 'bootstrap is not available yet',
    waitingFor: 'its CRI to come up',
    look: (a: string) => `talosctl -n ${a} service cri; talosctl -n ${a} dmesg`,
  },
  {
    said: 'time is not in sync yet',
    waitingFor: 'its clock to synchronise',
    look: (a: string) =>
      `talosctl -n ${a} get timestatus; talosctl -n ${a} logs controller-runtime | grep -i ntp: machine.time.servers must answer on UDP 123`,
  },
]

const BOOTSTRAP_RETRY_MS = 5000

/** `talosctl bootstrap` on `node`, asked again while machined says it is too early (NOT_YET), for at most timeoutMs. */
export async function bootstrapWhenAllowed(
  c: Pick<Cluster, 'talos'>,
  node: InventoryNode,
  step: Pick<StepHandle, 'progress' | 'signal'>,
  timeoutMs: number,
): Promise<void> {
  const t0 = Date.now()
  let last: string | undefined
  for (;;) {
    try {
      await c.talos.bootstrap(node.address)
      if (last) log.info(`  ${node.name}: bootstrapped after ${Math.round((Date.now() - t0) / 1000)} s of "${last}"`)
      return
    } catch (e) {
      const early = e instanceof CommandError ? NOT_YET.find((r) => e.stderr.includes(r.said)) : undefined
      if (!early) throw e
      const waited = Date.now() - t0
      if (waited + BOOTSTRAP_RETRY_MS > timeoutMs)
        throw new Error(
          `${node.name} still answers "${early.said}" after ${Math.round(waited / 1000)} s (--bootstrap-timeout): nothing was bootstrapped. It is waiting for ${early.waitingFor}; look with: ${early.look(node.address)}. Then re-run 03.`,
          { cause: e },
        )
      if (early.said !== last)
        log.info(`  ${node.name}: "${early.said}": waiting for ${early.waitingFor}, asking again`)
      last = early.said
      step.progress(`${node.name}: waiting for ${early.waitingFor} (${Math.round(waited / 1000)} s)`)
      step.signal.throwIfAborted()
      await sleep(BOOTSTRAP_RETRY_MS)
    }
  }
}

export async function waitForEtcd(c: Cluster, timeoutMs = 5 * 60_000): Promise<EtcdHealth> {
  const cps = controlPlanes(c.inv)
  let last = ''
  return waitFor(
    'etcd on every control-plane node with one leader',
    async () => {
      // two independent questions: asked together, a poll costs one call's time
      const [members, status] = await Promise.all([
        c.talos.etcdMembers(cps[0]!.address),
        c.talos.etcdStatus(cps.map((n) => n.address)),
      ])
      const byAddr = new Map(cps.map((n) => [n.address, n.name]))
      const r = evaluateEtcd(
        cps.map((n) => n.name),
        members,
        status.map((s) => ({ ...s, node: byAddr.get(s.node) ?? s.node })),
      )
      if (typeof r === 'string') {
        if (r !== last) log.dim(`  ${r}`)
        last = r
        return undefined
      }
      return r
    },
    { timeoutMs, intervalMs: 1000 },
  )
}

/** From `node`: the control plane the runbook names (--node), so the step fetches from the node it shows. */
export async function fetchKubeconfig(c: Cluster, node: InventoryNode): Promise<void> {
  await c.talos.kubeconfig(node.address, c.paths.kubeconfig, { force: true })
}
