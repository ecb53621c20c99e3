// Talos's own verdict beside ours: `talosctl health` runs the pkg/cluster/check default conditions (etcd healthy
// and consistent, apid, memory/disk sizes, diagnostics, kubelet, boot sequence, k8s nodes reporting and Ready,
// control-plane static pods and components, kube-proxy, coredns, schedulable). One check, one result, with each
// condition's last state as its evidence, so a failure names the condition and Talos's own words.
import { fail, pass, worded } from '../engine/results.ts'
import { defineCheck } from '../engine/types.ts'

export const talosHealth = defineCheck({
  id: 'cluster.talos-health',
  group: 'cluster',
  title: 'talosctl health: every Talos cluster condition holds',
  targets: () => ['cluster'],
  needs: ['talosHealth'],
  evaluate: ({ talosHealth: h }) => {
    const lines = h.report.checks.map((c) => `${c.name}: ${c.message}`)
    const ok = h.report.checks.filter((c) => c.status === 'ok' || c.status === 'skip').length
    const conditions = worded(lines, `${ok}/${h.report.checks.length} conditions OK`)
    const wanted = worded('every condition OK or SKIP', 'all conditions OK')
    if (h.report.ok && h.exitCode === 0) {
      return [
        pass(
          'cluster.talos-health',
          'cluster',
          conditions,
          wanted,
          `${h.report.checks.filter((c) => c.status === 'ok').length} conditions OK (run on ${h.from})`,
        ),
      ]
    }
    const bad = h.report.checks.find((c) => c.status === 'error' || c.status === 'running')
    const why = bad
      ? `${bad.name}: ${bad.message.split('\n').join(' ')}`
      : (h.report.errors[0] ?? `${h.command} exited ${h.exitCode}`)
    return [
      fail(
        'cluster.talos-health',
        'cluster',
        conditions,
        wanted,
        `talosctl health (on ${h.from}) failed waiting for ${why}`,
      ),
    ]
  },
})
