// 06-verify: the post-change checks (cluster, etcd, hugepages, NUMA, sysctls, kernel, kubelet, storage,
// isolation), stored as a report and compared with the previous one.
import { runbook } from '../lib/runner/runner.ts'
import { openCluster } from '../config/cluster.ts'
import { log } from '../lib/runner/log.ts'
import { terminalWidth } from '../lib/runner/columns.ts'
import { renderTable, summaryLine } from '../checks/engine/reporter.ts'
import { formatDiff } from '../checks/engine/diff.ts'
import { compareWithLatest, reportsDir, storeReport } from '../steps/06-verify/verify.ts'
import { runSuite } from '../steps/run-checks.ts'
import type { Report } from '../checks/engine/types.ts'

await runbook({
  id: '06-verify',
  title: 'Run the post-change checks and compare with the last report',
  json: true,
  flags: {
    check: {
      type: 'string',
      valueName: 'ID_OR_GROUP',
      description: 'run only this check or group (e.g. etcd, hugepages)',
    },
  },
  context(flags) {
    // `report` carries the suite's result from `checks` to `compare`; a resumed run at compare runs the suite again
    return Object.assign(openCluster(flags.inventory, flags), { report: undefined as Report | undefined })
  },
  steps: [
    {
      name: 'checks',
      describe: 'run the check suite',
      targets: (c) => c.inv.nodes.map((n) => n.name),
      async run(c) {
        const report = (c.report = await runSuite(c.inventoryFile, c.flags.check ? [c.flags.check] : [], {
          callTimeoutMs: c.flags.callTimeoutMs,
        }))
        log.info(
          renderTable(report, {
            color: process.stderr.isTTY && !process.env.NO_COLOR,
            width: terminalWidth(process.stderr),
          }),
        )
        log.info(summaryLine(report.summary))
        return report.summary
      },
    },
    {
      name: 'compare',
      describe: 'store the report, show what changed since the last one',
      async run(c, step) {
        const r = (c.report ??= await runSuite(c.inventoryFile, c.flags.check ? [c.flags.check] : [], {
          callTimeoutMs: c.flags.callTimeoutMs,
        }))
        // a dry run writes nothing: it compares with the last stored report but does not store this one
        const stored = step.dryRun
          ? { file: undefined, ...compareWithLatest(c.inv.cluster.name, r) }
          : storeReport(c.inv.cluster.name, r)
        log.info(
          stored.file
            ? `  report: ${stored.file}`
            : `  dry run: report not stored (a real run stores it in ${reportsDir(c.inv.cluster.name)})`,
        )
        const lines = stored.diff ? formatDiff(stored.diff) : ['  first report for this cluster: nothing to compare']
        for (const l of lines) log.info(`  ${l}`)
        if (r.summary.fail > 0)
          throw new Error(
            `${r.summary.fail} check(s) failed: ${r.results
              .filter((x) => x.status === 'fail')
              .map((x) => `${x.check}@${x.target}`)
              .join(', ')}`,
          )
        return { report: stored.file, changes: stored.diff ? formatDiff(stored.diff) : [] }
      },
    },
  ],
})
