// Kernel modules loaded and kernel args in effect on the validator (/proc/modules, /proc/cmdline).
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { parseCmdline, parseModules } from '../../lib/host/procfs.ts'
import { fail, nodeValue, pass } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'

const targets = (inv: CheckInventory) => names(validatorNodes(inv))

export const kernelModules = defineCheck({
  id: 'kernel.modules',
  group: 'kernel',
  title: 'inventory kernel modules are loaded',
  targets,
  needs: ['modules'],
  evaluate: ({ modules }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(modules, node, 'kernel.modules', '/proc/modules')
      if ('fail' in v) return [v.fail]
      const loaded = new Set(parseModules(v.value).map((m) => m.name))
      return (inv.validator?.kernelModules ?? []).map((m) =>
        // /proc/modules spells names with '_' where modprobe accepts '-'.
        loaded.has(m.replace(/-/g, '_'))
          ? pass('kernel.modules', `${node}/${m}`, 'loaded', 'loaded', `${m} is loaded`)
          : fail('kernel.modules', `${node}/${m}`, 'not loaded', 'loaded', `${m} is not loaded on ${node}`),
      )
    }),
})

export const kernelArgs = defineCheck({
  id: 'kernel.args',
  group: 'kernel',
  title: 'inventory kernel args are on the kernel command line',
  targets,
  needs: ['cmdline'],
  evaluate: ({ cmdline }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(cmdline, node, 'kernel.args', '/proc/cmdline')
      if ('fail' in v) return [v.fail]
      const cmd = parseCmdline(v.value)
      return (inv.validator?.kernelArgs ?? []).map((want) => {
        const eq = want.indexOf('=')
        const key = eq < 0 ? want : want.slice(0, eq)
        // The kernel honours the last occurrence of a repeated key.
        const value = cmd.get(key)
        const effective = value === undefined ? undefined : value === '' && eq < 0 ? key : `${key}=${value}`
        return effective === want
          ? pass('kernel.args', `${node}/${key}`, effective, want, `${want} is on the command line`)
          : fail('kernel.args', `${node}/${key}`, effective ?? null, want,
              effective ? `${node} boots with ${effective}, wanted ${want}` : `${want} is missing from ${node}'s kernel command line`)
      })
    }),
})

export const kernelChecks = [kernelModules, kernelArgs]
