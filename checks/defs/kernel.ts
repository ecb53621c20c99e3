// Kernel modules loaded and kernel args in effect on the validator (/proc/modules, /proc/cmdline).
import { names, validatorNodes, type CheckInventory } from '../engine/inventory.ts'
import { parseCmdline, parseModules, parseModulesBuiltin } from '../../lib/host/procfs.ts'
import { fail, nodeValue, pass } from '../engine/results.ts'
import { defineCheck, type Result } from '../engine/types.ts'

const targets = (inv: CheckInventory) => names(validatorNodes(inv))

// tcp_bbr and sch_fq are built into the Talos v1.10.3 kernel (siderolabs/pkgs kernel/build/config-amd64 at
// v1.10.0-16-g39b9c9f: CONFIG_TCP_CONG_BBR=y, CONFIG_NET_SCH_FQ=y), so they never show in /proc/modules: a module
// is there when it is loaded OR built in (modules.builtin). Talos's module loader treats a built-in module as
// loaded (internal/app/machined/pkg/controllers/runtime/kernel_module_spec.go → github.com/pmorjan/kmod v1.1.1 Load:
// "is builtin", no error).
export const kernelModules = defineCheck({
  id: 'kernel.modules',
  group: 'kernel',
  title: 'inventory kernel modules are loaded or built in',
  targets,
  needs: ['modules', 'modulesBuiltin'],
  evaluate: ({ modules, modulesBuiltin }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const v = nodeValue(modules, node, 'kernel.modules', '/proc/modules')
      if ('fail' in v) return [v.fail]
      const b = nodeValue(modulesBuiltin, node, 'kernel.modules', 'modules.builtin')
      if ('fail' in b) return [b.fail]
      const loaded = new Set(parseModules(v.value).map((m) => m.name))
      const builtin = new Set(parseModulesBuiltin(b.value))
      return (inv.validator?.kernelModules ?? []).map((m) => {
        // /proc/modules spells names with '_' where modprobe accepts '-'.
        const name = m.replace(/-/g, '_')
        if (loaded.has(name))
          return pass('kernel.modules', `${node}/${m}`, 'loaded', 'loaded or built in', `${m} is loaded`)
        if (builtin.has(name))
          return pass(
            'kernel.modules',
            `${node}/${m}`,
            'built in',
            'loaded or built in',
            `${m} is built into the kernel`,
          )
        return fail(
          'kernel.modules',
          `${node}/${m}`,
          'absent',
          'loaded or built in',
          `${m} is neither loaded nor built in on ${node}`,
        )
      })
    }),
})

/** The effect that matters for a congestion control module: the algorithm the inventory selects is available. */
export const tcpCongestion = defineCheck({
  id: 'kernel.tcp-congestion',
  group: 'kernel',
  title: 'the inventory TCP congestion control is available in the kernel',
  targets: (inv) => (inv.validator?.sysctls?.['net.ipv4.tcp_congestion_control'] ? targets(inv) : []),
  needs: ['tcpCongestion'],
  evaluate: ({ tcpCongestion }, inv) =>
    targets(inv).flatMap((node): Result[] => {
      const want = inv.validator?.sysctls?.['net.ipv4.tcp_congestion_control']
      if (!want) return []
      const v = nodeValue(
        tcpCongestion,
        node,
        'kernel.tcp-congestion',
        '/proc/sys/net/ipv4/tcp_available_congestion_control',
      )
      if ('fail' in v) return [v.fail]
      const available = v.value.trim().split(/\s+/)
      return [
        available.includes(String(want))
          ? pass(
              'kernel.tcp-congestion',
              node,
              available.join(' '),
              want,
              `${want} is available (${available.join(' ')})`,
            )
          : fail(
              'kernel.tcp-congestion',
              node,
              available.join(' '),
              want,
              `${want} is not an available congestion control on ${node} (${available.join(' ')})`,
            ),
      ]
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
          : fail(
              'kernel.args',
              `${node}/${key}`,
              effective ?? null,
              want,
              effective
                ? `${node} boots with ${effective}, wanted ${want}`
                : `${want} is missing from ${node}'s kernel command line`,
            )
      })
    }),
})

export const kernelChecks = [kernelModules, tcpCongestion, kernelArgs]
