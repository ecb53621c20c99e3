// 01-provision: put Talos on every machine and wait until each answers in maintenance mode.
// Bare metal with a rescue system: the image is written over SSH (host key pinned). Others: boot the ISO.
import { runbook } from '../lib/runner/runner.ts'
import { openCluster } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import {
  provisionState,
  writeImages,
  isoInstructions,
  waitForMaintenance,
  reportMaintenance,
  machinesWithoutBmc,
  rebootIntoRescue,
} from '../steps/provision.ts'
import { printSchematicsCli } from '../config/schematic-images.ts'

// Offline: print (and write) the schematics the inventory renders; touches no machine.
if (process.argv.includes('--print-schematics')) process.exit(await printSchematicsCli(process.argv))

await runbook({
  id: '01-provision',
  title: 'Install Talos on every machine and wait for maintenance mode',
  flags: {
    node: { type: 'string', description: 'only this node (default: every node in the inventory)' },
    'print-schematics': {
      type: 'boolean',
      description:
        "offline: write each node group's Image Factory schematic under the output dir, print its ID, installer image and factory URLs, and exit",
    },
    'bmc-reboot': {
      type: 'boolean',
      description:
        'first reboot the machine(s) into their rescue system through their BMC (next boot: network, then power cycle), e.g. to reinstall',
    },
  },
  async context(flags) {
    const cluster = openCluster(flags.inventory, flags)
    const only = flags.node as string | undefined
    const nodes = cluster.inv.nodes.filter((n) => !only || n.name === only)
    if (only && nodes.length === 0) throw new Error(`--node ${only}: no such node in ${flags.inventory}`)
    const bmcReboot = flags.bmcReboot === true
    const noBmc = bmcReboot ? machinesWithoutBmc(nodes) : []
    if (noBmc.length)
      throw new Error(
        `--bmc-reboot: ${noBmc.join(', ')} ${noBmc.length > 1 ? 'have' : 'has'} no bmc: block in ${flags.inventory} (reboot ${noBmc.length > 1 ? 'them' : 'it'} into the rescue system by hand, or add one)`,
      )
    return { ...cluster, cluster: cluster.inv.cluster, nodes, bmcReboot, state: await provisionState(cluster, nodes) }
  },
  steps: [
    {
      name: 'rescue-boot',
      describe:
        'with --bmc-reboot: reboot the machines into their rescue system through their BMC (next boot network, power cycle)',
      destructive: true,
      targets: (c) => c.nodes.map((n) => n.name),
      confirm: (c) =>
        `Power-cycle ${c.nodes.map((n) => `${n.name} (BMC ${n.bmc?.address})`).join(', ')} into the rescue system? Whatever runs there stops now.`,
      async check(c) {
        return c.bmcReboot ? { done: false } : { done: true, reason: 'not asked (--bmc-reboot)' }
      },
      async run(c, step) {
        await rebootIntoRescue(c, c.nodes, step)
        // the machines now run their rescue system: what Talos answered before no longer holds
        if (!c.dryRun) c.state = await provisionState(c, c.nodes)
      },
    },
    {
      name: 'survey',
      describe: 'ask each machine whether Talos already answers',
      targets: (c) => c.nodes.map((n) => n.name),
      async run(c) {
        for (const n of c.nodes) log.info(`  ${n.name.padEnd(12)} ${c.state.get(n.name)!.summary}`)
      },
    },
    {
      name: 'write-image',
      describe: "write the Talos image over the rescue system's SSH (pinned key), verify, reboot",
      detail: (c) => `${c.state.pending().length} machine(s)`,
      destructive: true,
      targets: (c) =>
        c.state
          .pending()
          .filter((n) => n.rescue)
          .map((n) => `${n.name}:${n.installDisk}`),
      confirm: (c) =>
        `Erase ${c.state
          .pending()
          .filter((n) => n.rescue)
          .map((n) => `${n.name}:${n.installDisk}`)
          .join(', ')} and write Talos ${c.inv.cluster.talosVersion}?`,
      async check(c) {
        const todo = c.state.pending().filter((n) => n.rescue)
        return todo.length === 0 ? { done: true, reason: 'no machine waits for an image over SSH' } : { done: false }
      },
      async run(c, step) {
        await writeImages(
          c,
          c.state.pending().filter((n) => n.rescue),
          step,
        )
      },
    },
    {
      name: 'boot-iso',
      describe: 'machines without a rescue system: boot the Talos ISO by hand',
      targets: (c) =>
        c.state
          .pending()
          .filter((n) => !n.rescue)
          .map((n) => n.name),
      async check(c) {
        const todo = c.state.pending().filter((n) => !n.rescue)
        return todo.length === 0
          ? { done: true, reason: 'every machine is installed over SSH or already runs Talos' }
          : { done: false }
      },
      confirm: (c) =>
        isoInstructions(
          c,
          c.state.pending().filter((n) => !n.rescue),
        ),
      destructive: true,
      async run() {},
    },
    {
      name: 'wait-maintenance',
      describe: 'wait until every machine answers the Talos API',
      targets: (c) => c.nodes.map((n) => n.name),
      async run(c) {
        await waitForMaintenance(c, c.nodes)
      },
    },
    {
      name: 'report',
      describe: "report each machine's Talos version and disks; stop if an install disk is missing",
      targets: (c) => c.nodes.map((n) => n.name),
      async run(c) {
        return reportMaintenance(c, c.nodes)
      },
    },
  ],
})
