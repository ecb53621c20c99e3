// solana.host-limits: the validator's /proc/sys meets fdctl's thresholds (lib/host/solana-limits.ts, with the source
// line of each), one result per limit.
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { fail, nodeValue, pass } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'
import { HOST_LIMITS, judgeHostLimit } from '../../lib/host/solana-limits.ts'

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
      return HOST_LIMITS.map((limit) => {
        const seen = v.value[limit.key]
        const wanted = `${limit.rule === 'minimum' ? '>=' : '=='} ${limit.value}`
        const j = judgeHostLimit(limit, seen)
        const t = `${node}/${limit.key}`
        return j.ok
          ? pass('solana.host-limits', t, seen ?? '(absent)', wanted, j.why)
          : fail('solana.host-limits', t, seen ?? null, wanted, `${node}: ${j.why}`)
      })
    }),
})

export const solanaChecks = [solanaHostLimits]
