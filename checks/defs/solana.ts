// solana.host-limits: the validator's /proc/sys meets fdctl's thresholds (lib/host/solana-limits.ts, with the source
// line of each), one result per limit.
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { fail, nodeValue, pass, warn } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'
import { hostLimitsFor, judgeHostLimit, judgeRuntimeSpec, VALIDATOR_RLIMITS } from '../../lib/host/solana-limits.ts'

const targets = (inv: CheckInventory) => names(validatorNodes(inv))

export const solanaHostLimits = defineCheck({
  id: 'solana.host-limits',
  group: 'solana',
  title: "the validator host meets fdctl's sysctl thresholds",
  targets,
  needs: ['hostLimits'],
  evaluate: ({ hostLimits }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(hostLimits, node, 'solana.host-limits', '/proc/sys')
      if ('fail' in v) return [v.fail]
      return hostLimitsFor(inv.validator?.netProvider).map((limit) => {
        const seen = v.value[limit.key]
        const wanted = `${limit.rule === 'minimum' ? '>=' : '=='} ${limit.value}`
        const j = judgeHostLimit(limit, seen)
        const t = `${node}/${limit.key}`
        if (j.ok) return pass('solana.host-limits', t, seen ?? '(absent)', wanted, j.why)
        return (limit.warnOnly ? warn : fail)('solana.host-limits', t, seen ?? null, wanted, `${node}: ${j.why}`)
      })
    }),
})

/**
 * The memlock and open files the validator's container gets: the OCI base spec Talos writes from
 * machine.baseRuntimeSpecOverrides. containerd reads it when it starts, so a spec that passes while the node has not
 * rebooted since the change still runs containers with the old limits.
 */
export const solanaRuntimeLimits = defineCheck({
  id: 'solana.runtime-limits',
  group: 'solana',
  title: "the validator's containers get memlock and open files from the CRI base spec",
  targets,
  needs: ['criBaseSpec'],
  evaluate: ({ criBaseSpec }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(criBaseSpec, node, 'solana.runtime-limits', '/etc/cri/conf.d/base-spec.json')
      if ('fail' in v) return [v.fail]
      return judgeRuntimeSpec(v.value).map((j) => {
        const want = VALIDATOR_RLIMITS.find((l) => l.type === j.type)
        const wanted = want ? `>= ${want.minimum}` : 'JSON'
        const t = `${node}/${j.type}`
        return j.ok
          ? pass('solana.runtime-limits', t, j.seen, wanted, j.why)
          : fail(
              'solana.runtime-limits',
              t,
              j.seen,
              wanted,
              `${node}: ${j.why} (machine.baseRuntimeSpecOverrides; a reboot applies it)`,
            )
      })
    }),
})

export const solanaChecks = [solanaHostLimits, solanaRuntimeLimits]
