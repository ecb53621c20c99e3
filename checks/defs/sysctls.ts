// Every inventory sysctl has its value on the validator (KernelParamStatus "current", i.e. /proc/sys).
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { fail, nodeValue, pass } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'

const targets = (inv: CheckInventory) => names(validatorNodes(inv))

/** /proc/sys prints multi-value sysctls tab-separated ("4096\t87380\t6291456"); compare word by word. */
const sameSysctl = (seen: string, wanted: string) =>
  seen.trim().split(/\s+/).join(' ') === String(wanted).trim().split(/\s+/).join(' ')

export const sysctlValues = defineCheck({
  id: 'sysctls.values',
  group: 'sysctls',
  title: 'inventory sysctls are in effect on the validator',
  targets,
  needs: ['sysctls'],
  evaluate: ({ sysctls }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(sysctls, node, 'sysctls.values', 'kernel params')
      if ('fail' in v) return [v.fail]
      return Object.entries(inv.validator?.sysctls ?? {}).map(([key, wanted]) => {
        const seen = v.value[key]
        const t = `${node}/${key}`
        if (seen === undefined) return fail('sysctls.values', t, null, wanted, `${key} is not set/readable on ${node}`)
        return sameSysctl(seen, wanted)
          ? pass('sysctls.values', t, seen, wanted, `${key} = ${seen}`)
          : fail('sysctls.values', t, seen, wanted, `${key} is ${seen} on ${node}, wanted ${wanted}`)
      })
    }),
})

export const sysctlChecks = [sysctlValues]
