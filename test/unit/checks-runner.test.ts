// The runner fetches each source once whatever the node count, fails only the checks whose source failed, and the
// real sources turn batched talosctl output (including a dead node) into per-node data.
import { test } from 'node:test'
import { validatorRuntimeSpecOverrides } from '../../lib/host/solana-limits.ts'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatIndex } from '../../lib/talos/etcd-backups.ts'
import { ALL_CHECKS } from '../../checks/defs/index.ts'
import type { CheckInventory, CheckNode } from '../../checks/engine/inventory.ts'
import { plan, runChecks, selectChecks, type SourceRegistry } from '../../checks/engine/runner.ts'
import {
  SOURCES,
  machineDocument,
  probeTalos,
  ownerFromLs,
  parseTalosMounts,
  type SourceContext,
  type TalosRunResult,
} from '../../checks/engine/sources.ts'
import { defineCheck } from '../../checks/engine/types.ts'
import { setLogSink } from '../../lib/runner/log.ts'
import { kubeletExtraConfig } from '../../config/render.ts'
import type { ValidatorProfile } from '../../config/inventory.ts'
import { stringify as stringifyYaml } from 'yaml'

setLogSink(() => {})

const shared = (p: string) => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8')

// Go's tabwriter with talosctl's settings (padding 3): every cell padded to its column's widest cell.
function tabwrite(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]! + 3))).join('')).join('\n') + '\n'
}

function inventory(workers: number): CheckInventory {
  const nodes: CheckNode[] = [
    { name: 'cp1', address: '172.20.0.2', role: 'controlplane' },
    { name: 'cp2', address: '172.20.0.3', role: 'controlplane' },
    { name: 'cp3', address: '172.20.0.4', role: 'controlplane' },
    { name: 'validator1', address: '172.20.1.1', role: 'worker', profile: 'validator' },
  ]
  for (let i = 0; i < workers; i++) nodes.push({ name: `w${i}`, address: `172.20.2.${i}`, role: 'worker' })
  return {
    cluster: { name: 'test', target: 'production', outputDir: '/nonexistent' },
    nodes,
    validator: {
      hugepages: [{ size: '1Gi', perNumaNode: [4, 4] }],
      sysctls: { 'vm.swappiness': '0', 'vm.max_map_count': '1048576' },
      kernelModules: ['tcp_bbr'],
      kernelArgs: ['iommu=pt'],
      cpuManagerPolicy: 'static',
      storage: [
        {
          name: 'ledger',
          mountPoint: '/var/mnt/ledger',
          filesystem: 'xfs',
          owner: { uid: 1000, gid: 1000 },
          mode: '0750',
        },
      ],
      labels: { 'solana.org/role': 'validator' },
      taints: [{ key: 'solana.org/validator', value: 'true', effect: 'NoSchedule' }],
    },
  }
}

// A fake talosctl that answers like the real one for whichever nodes it is given, and counts its invocations.
function fakeTalos(inv: CheckInventory, opts: { dead?: string[] } = {}) {
  const calls: string[][] = []
  const dead = new Set((opts.dead ?? []).map((n) => inv.nodes.find((x) => x.name === n)!.address))
  const name = (a: string) => inv.nodes.find((n) => n.address === a)!.name
  const files: Record<string, string> = {
    '/proc/cmdline': 'console=ttyS0 iommu=pt default_hugepagesz=1G hugepagesz=1G hugepages=0:4,1:4\n',
    '/proc/meminfo': 'MemTotal: 263921580 kB\nHugePages_Total:       8\nHugepagesize:    1048576 kB\n',
    '/proc/modules': 'tcp_bbr 20480 3 - Live 0x0000000000000000\n',
    '/proc/sys/kernel/osrelease': '6.12.28-talos\n',
    '/usr/lib/modules/6.12.28-talos/modules.builtin': 'kernel/net/sched/sch_fq.ko\n',
    '/proc/sys/net/ipv4/tcp_available_congestion_control': 'reno cubic bbr\n',
    // fdctl's limits (no kernel/numa_balancing: Talos's kernel has none) and the CRI base spec the validator's
    // rendered baseRuntimeSpecOverrides give
    '/proc/sys/vm/max_map_count': '1048576\n',
    '/proc/sys/fs/file-max': '9223372036854775807\n',
    '/proc/sys/fs/nr_open': '1048576\n',
    // fdctl's XDP provider: what the validator's config renders for lo, and Talos's always-on JIT
    '/proc/sys/net/ipv4/conf/lo/rp_filter': '2\n',
    '/proc/sys/net/ipv4/conf/lo/accept_local': '1\n',
    '/proc/sys/net/ipv4/conf/lo/route_localnet': '1\n',
    '/proc/sys/net/core/bpf_jit_enable': '1\n',
    '/etc/cri/conf.d/base-spec.json': JSON.stringify({ ociVersion: '1.2.0', ...validatorRuntimeSpecOverrides() }),
    '/proc/mounts': '/dev/nvme1n1p1 /var/mnt/ledger xfs rw,relatime 0 0\n',
    '/sys/devices/system/node/online': '0-1\n',
    '/sys/devices/system/node/node0/cpulist': '0-3\n',
    '/sys/devices/system/node/node1/cpulist': '4-7\n',
    '/sys/devices/system/node/node0/meminfo': 'Node 0 MemTotal: 8388608 kB\nNode 0 MemFree: 4000000 kB\n',
    '/sys/devices/system/node/node1/meminfo': 'Node 1 MemTotal: 8388608 kB\nNode 1 MemFree: 4000000 kB\n',
    '/sys/devices/system/node/node0/distance': '10 21\n',
    '/sys/devices/system/node/node1/distance': '21 10\n',
    '/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages': '4\n',
    '/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages': '4\n',
    // the governor cpufreq.default_governor=performance gives every CPU; no isolcpus=, no nohz_full file
    '/sys/devices/system/cpu/online': '0-7\n',
    ...Object.fromEntries(
      [0, 1, 2, 3, 4, 5, 6, 7].map((c) => [
        `/sys/devices/system/cpu/cpu${c}/cpufreq/scaling_governor`,
        'performance\n',
      ]),
    ),
    '/sys/devices/system/cpu/isolated': '\n',
  }
  const sample = shared('samples/talosctl/etcd-status-3-nodes.txt').split('\n')
  const run = async (args: string[], o: { nodes?: string[] } = {}): Promise<TalosRunResult> => {
    calls.push(args)
    const nodes = o.nodes ?? []
    const alive = nodes.filter((n) => !dead.has(n))
    const stderr = nodes
      .filter((n) => dead.has(n))
      .map((n) => `error: ${n}: rpc error: code = Unavailable desc = connection refused`)
      .join('\n')
    const res = (stdout: string): TalosRunResult => ({
      command: `talosctl -n ${nodes.join(',')} ${args.join(' ')}`,
      stdout,
      stderr,
      exitCode: stderr ? 1 : 0,
    })
    const cmd = args.join(' ')
    if (cmd === 'etcd status')
      return res(
        [sample[0], ...sample.slice(1).filter((l) => alive.some((a) => l.startsWith(a + ' ')))].join('\n') + '\n',
      )
    if (cmd === 'etcd members') {
      if (alive.length === 0) return res('')
      return res(
        'ID                 HOSTNAME   PEER URLS                 CLIENT URLS               LEARNER\n' +
          ['cp1', 'cp2', 'cp3']
            .map(
              (c, i) =>
                `a49c021e76e707d${i}   ${c}        https://172.20.0.${i + 2}:2380   https://172.20.0.${i + 2}:2379   false`,
            )
            .join('\n') +
          '\n',
      )
    }
    if (cmd === 'etcd alarm list') return res('')
    if (cmd === 'service') {
      const rows = alive.flatMap((a) => [
        `${a}   kubelet   Running   OK       1h2m3s ago   Health check successful`,
        ...(name(a).startsWith('cp')
          ? [`${a}   etcd      Running   OK       1h2m3s ago   Health check successful`]
          : []),
      ])
      return res(['NODE         SERVICE   STATE     HEALTH   LAST CHANGE   LAST EVENT', ...rows].join('\n') + '\n')
    }
    if (args[0] === 'get' && args[1] === 'kernelparamstatus') {
      return res(
        alive
          .map((a) =>
            [
              ['vm.swappiness', '0'],
              ['vm.max_map_count', '1048576'],
            ]
              .map(([k, v]) =>
                JSON.stringify(
                  {
                    node: a,
                    metadata: {
                      namespace: 'runtime',
                      type: 'KernelParamStatuses.runtime.talos.dev',
                      id: `proc.sys.${k}`,
                      version: 1,
                    },
                    spec: { current: v, default: '', unsupported: false },
                  },
                  null,
                  4,
                ),
              )
              .join('\n'),
          )
          .join('\n'),
      )
    }
    if (args[0] === 'get' && args[1] === 'machineconfig') {
      // what lib/render.ts writes for the validator (the check compares against the same derivation)
      const spec = stringifyYaml({
        version: 'v1alpha1',
        machine: { type: 'worker', kubelet: { extraConfig: kubeletExtraConfig(inv.validator as ValidatorProfile) } },
      })
      return res(
        alive
          .map((a) =>
            JSON.stringify({
              node: a,
              metadata: { namespace: 'config', type: 'MachineConfigs.config.talos.dev', id: 'v1alpha1', version: 3 },
              spec,
            }),
          )
          .join('\n'),
      )
    }
    if (cmd === 'mounts') {
      return res(
        'NODE         FILESYSTEM       SIZE(GB)   USED(GB)   AVAILABLE(GB)   PERCENT USED   MOUNTED ON\n' +
          alive
            .map((a) => `${a}   /dev/nvme1n1p1   2000.00    500.00     1500.00         25.00%         /var/mnt/ledger`)
            .join('\n') +
          '\n',
      )
    }
    if (args[0] === 'ls') {
      return res(
        'NODE         MODE         UID    GID    SIZE(B)   LASTMOD           LABEL   NAME\n' +
          alive.map((a) => `${a}   drwxr-x---   1000   1000   4096      Jan  1 00:00:00           .`).join('\n') +
          '\n',
      )
    }
    if (args[0] === 'health') {
      // server-side talosctl health as the node asked prints it (v1alpha1_cluster.go: "discovered nodes: %q", then
      // pkg/cluster/check's reporter: "waiting for <condition>: ..." / "OK" / the error)
      if (alive.length === 0)
        return { command: `talosctl ${args.join(' ')}`, stdout: '', stderr: `error: ${stderr}`, exitCode: 1 }
      const cpList = args[args.indexOf('--control-plane-nodes') + 1]!.split(',')
      const wList = args.includes('--worker-nodes') ? args[args.indexOf('--worker-nodes') + 1]!.split(',') : []
      const deadCps = cpList.filter((a) => dead.has(a))
      const deadAny = [...cpList, ...wList].filter((a) => dead.has(a))
      const lines = [`discovered nodes: [${[...cpList, ...wList].map((a) => JSON.stringify(a)).join(' ')}]`]
      const conds: [string, string | undefined][] = [
        [
          'etcd to be healthy',
          deadCps.length
            ? `1 error occurred:\n\t* ${deadCps[0]}: rpc error: code = Unavailable desc = connection refused`
            : undefined,
        ],
        [
          'apid to be ready',
          deadAny.length
            ? `1 error occurred:\n\t* ${deadAny[0]}: rpc error: code = Unavailable desc = connection refused`
            : undefined,
        ],
        ['kubelet to be healthy', undefined],
        ['all k8s nodes to report ready', undefined],
      ]
      for (const [c, err] of conds) {
        lines.push(`waiting for ${c}: ...`)
        if (err) {
          lines.push(`waiting for ${c}: ${err}`)
          return {
            command: `talosctl ${args.join(' ')}`,
            stdout: '',
            stderr: lines.join('\n') + `\nrpc error: code = DeadlineExceeded desc = ${c}: context deadline exceeded\n`,
            exitCode: 1,
          }
        }
        lines.push(`waiting for ${c}: OK`)
      }
      return { command: `talosctl ${args.join(' ')}`, stdout: '', stderr: lines.join('\n') + '\n', exitCode: 0 }
    }
    if (args[0] === 'read') {
      if (alive.length === 0) return { command: `talosctl read ${args[1]}`, stdout: '', stderr, exitCode: 1 }
      const f = files[args[1]!]
      return f === undefined
        ? {
            command: `talosctl read ${args[1]}`,
            stdout: '',
            stderr: `error reading file: open ${args[1]}: no such file or directory`,
            exitCode: 1,
          }
        : res(f)
    }
    return { command: cmd, stdout: '', stderr: `unknown command "${args[0]}" for "talosctl"`, exitCode: 1 }
  }
  return { calls, talos: { run } }
}

function k8s(inv: CheckInventory, counter: { n: number }) {
  return {
    nodes: async () => {
      counter.n++
      return {
        items: inv.nodes.map((n) => ({
          metadata: {
            name: n.name,
            labels:
              n.role === 'controlplane'
                ? { 'node-role.kubernetes.io/control-plane': '' }
                : n.profile
                  ? inv.validator!.labels
                  : {},
          },
          spec: { taints: n.profile ? inv.validator!.taints : [] },
          status: {
            conditions: [{ type: 'Ready', status: 'True' }],
            addresses: [{ type: 'InternalIP', address: n.address }],
            allocatable: { 'hugepages-1Gi': n.profile ? '8Gi' : '0' },
          },
        })),
      }
    },
    pods: async () => {
      counter.n++
      return {
        items: ['cp1', 'cp2', 'cp3'].flatMap((cp) =>
          ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((c) => ({
            metadata: { name: `${c}-${cp}`, namespace: 'kube-system' },
            spec: { nodeName: cp },
            status: { phase: 'Running' },
          })),
        ),
      }
    },
    csrs: async () => {
      counter.n++
      return { items: [] }
    },
  }
}

/** An output dir whose backup index holds one snapshot taken just now (etcd.backup-age passes on it). */
function freshBackups(): string {
  const out = mkdtempSync(join(tmpdir(), 'checks-runner-'))
  mkdirSync(join(out, 'backups'))
  const entry = {
    file: 'etcd-cp1.db',
    member: 'cp1',
    takenAt: new Date().toISOString(),
    revision: 7,
    hash: '0000abcd',
    totalKeys: 5,
    size: 20512,
    reason: 'backup',
  }
  writeFileSync(join(out, 'backups', 'index.json'), formatIndex([entry]))
  return out
}

async function runAll(workers: number, dead: string[] = []) {
  const inv = inventory(workers)
  const t = fakeTalos(inv, { dead })
  const kubeCalls = { n: 0 }
  const ctx: SourceContext = { talos: t.talos, kube: k8s(inv, kubeCalls), outDir: freshBackups() }
  const report = await runChecks(ALL_CHECKS, { inv, sources: SOURCES, ctx })
  return { report, calls: t.calls, kubeCalls: kubeCalls.n }
}

test('runner: every check passes on a healthy fake cluster through the real sources', async () => {
  const { report } = await runAll(1)
  const bad = report.results.filter((r) => r.status !== 'pass').map((r) => `${r.check} ${r.target}: ${r.message}`)
  assert.deepEqual(bad, [])
  assert.equal(report.summary.pass, report.results.length)
  assert.ok(new Set(report.results.map((r) => r.check.split('.')[0])).size >= 9, 'all groups reported')
})

test('runner: talosctl and kubectl invocations do not grow with node count (5 vs 100 nodes)', async () => {
  const small = await runAll(1) // 3 CPs + validator + 1 worker = 5 nodes
  const big = await runAll(96) // 100 nodes
  assert.equal(big.report.results.filter((r) => r.check === 'cluster.kubelet-service').length, 100)
  assert.equal(big.calls.length, small.calls.length)
  assert.equal(big.kubeCalls, small.kubeCalls)
  assert.equal(small.kubeCalls, 3)
  // the batched calls name every node at once
  assert.equal(small.calls.filter((a) => a.join(' ') === 'etcd status').length, 1)
  assert.equal(small.calls.filter((a) => a[0] === 'service').length, 1)
})

test('runner: a fake source is fetched once for 5 and for 100 targets', async () => {
  for (const n of [5, 100]) {
    let calls = 0
    const nodes = Array.from({ length: n }, (_, i) => ({
      name: `n${i}`,
      address: `10.0.0.${i}`,
      role: 'worker' as const,
    }))
    const inv: CheckInventory = { cluster: { name: 'x', target: 'lab', outputDir: '/x' }, nodes }
    const check = defineCheck({
      id: 'fake.one',
      group: 'fake',
      title: 'fake',
      targets: (i) => i.nodes.map((x) => x.name),
      needs: ['cmdline'],
      evaluate: ({ cmdline }, i) =>
        i.nodes.map((x) => ({
          check: 'fake.one',
          target: x.name,
          status: cmdline.values[x.name] ? 'pass' : 'fail',
          evidence: { seen: 1, wanted: 1 },
          text: { seen: '1', wanted: '1' },
          message: '',
        })),
    })
    const sources: SourceRegistry<null> = {
      cmdline: {
        name: 'cmdline',
        fetch: async ({ nodes: ns }) => (
          calls++,
          { values: Object.fromEntries(ns.map((x) => [x.name, 'quiet'])), errors: {} }
        ),
      },
    }
    const report = await runChecks([check, { ...check, id: 'fake.two' }], { inv, sources, ctx: null })
    assert.equal(calls, 1, `${n} nodes`)
    assert.equal(report.summary.pass, 2 * n)
  }
})

test('runner: the time each source took is a log line only with --verbose', async () => {
  const inv: CheckInventory = {
    cluster: { name: 'x', target: 'lab', outputDir: '/x' },
    nodes: [{ name: 'n0', address: '10.0.0.1', role: 'worker' }],
  }
  const check = defineCheck({
    id: 'fake.one',
    group: 'fake',
    title: 'fake',
    targets: () => ['n0'],
    needs: ['cmdline'],
    evaluate: () => [
      {
        check: 'fake.one',
        target: 'n0',
        status: 'pass',
        evidence: { seen: 1, wanted: 1 },
        text: { seen: '1', wanted: '1' },
        message: '',
      },
    ],
  })
  const sources: SourceRegistry<null> = {
    cmdline: { name: 'cmdline', fetch: async () => ({ values: { n0: 'quiet' }, errors: {} }) },
  }
  for (const verbose of [false, true]) {
    const lines: string[] = []
    const prev = setLogSink((l) => lines.push(l))
    try {
      await runChecks([check], { inv, sources, ctx: null, verbose })
    } finally {
      setLogSink(prev)
    }
    assert.equal(
      lines.some((l) => /source cmdline: \d+ ms/.test(l)),
      verbose,
      lines.join('\n'),
    )
  }
})

test('runner: a failing source fails only the checks that need it, with the error as evidence', async () => {
  const inv = inventory(1)
  const t = fakeTalos(inv)
  const ctx: SourceContext = {
    talos: t.talos,
    kube: {
      nodes: async () => {
        throw new Error(
          'kubectl get nodes: Unable to connect to the server: dial tcp 127.0.10.10:6443: connection refused',
        )
      },
      pods: async () => ({ items: [] }),
      csrs: async () => ({ items: [] }),
    },
    outDir: freshBackups(),
  }
  const report = await runChecks(ALL_CHECKS, { inv, sources: SOURCES, ctx })
  const failedChecks = new Set(report.results.filter((r) => r.status === 'fail').map((r) => r.check))
  const needsNodes = new Set(ALL_CHECKS.filter((c) => (c.needs as string[]).includes('k8sNodes')).map((c) => c.id))
  assert.deepEqual([...failedChecks].sort(), [...needsNodes].sort())
  const r = report.results.find((x) => x.check === 'cluster.nodes-ready')!
  assert.match(JSON.stringify(r.evidence.seen), /connection refused/)
  assert.ok(report.results.some((x) => x.check === 'etcd.leader' && x.status === 'pass'))
})

test('runner: a dead control plane fails its own etcd/service checks, by name; the batch still serves the others', async () => {
  const { report } = await runAll(1, ['cp2'])
  const fails = report.results.filter((r) => r.status === 'fail')
  assert.ok(fails.length > 0)
  // Talos's own health check is about the cluster: it fails too, naming the dead node
  for (const f of fails)
    assert.equal(
      f.target,
      f.check === 'cluster.talos-health' ? 'cluster' : 'cp2',
      `${f.check} ${f.target}: ${f.message}`,
    )
  assert.match(
    fails.find((f) => f.check === 'cluster.talos-health')!.message,
    /waiting for etcd to be healthy: 1 error occurred: \* 172\.20\.\d+\.\d+: .*connection refused/,
  )
  const health = fails.find((f) => f.check === 'etcd.member-health')!
  assert.match(health.message, /cp2.*connection refused/)
  assert.ok(fails.some((f) => f.check === 'cluster.kubelet-service'))
  assert.equal(report.results.find((r) => r.check === 'etcd.leader')!.status, 'pass')
})

test('runner: a dead validator fails its per-node file checks, naming it, and no others', async () => {
  const { report } = await runAll(1, ['validator1'])
  const failing = report.results.filter((r) => r.status === 'fail')
  assert.ok(failing.some((r) => r.check === 'hugepages.cmdline'))
  for (const f of failing)
    assert.match(f.target, f.check === 'cluster.talos-health' ? /^cluster$/ : /^validator1/, `${f.check} ${f.target}`)
})

test('runner: a check whose evaluate throws fails alone', async () => {
  const inv = inventory(0)
  const boom = defineCheck({
    id: 'x.boom',
    group: 'x',
    title: 'b',
    targets: () => ['cluster'],
    needs: [],
    evaluate: () => {
      throw new Error('bug in check')
    },
  })
  const ok = defineCheck({
    id: 'x.ok',
    group: 'x',
    title: 'o',
    targets: () => ['cluster'],
    needs: [],
    evaluate: () => [
      {
        check: 'x.ok',
        target: 'cluster',
        status: 'pass',
        evidence: { seen: 1, wanted: 1 },
        text: { seen: '1', wanted: '1' },
        message: 'fine',
      },
    ],
  })
  const report = await runChecks([boom, ok], { inv, sources: {}, ctx: null })
  assert.deepEqual(
    report.results.map((r) => [r.check, r.status]),
    [
      ['x.boom', 'fail'],
      ['x.ok', 'pass'],
    ],
  )
  assert.match(report.results[0]!.message, /bug in check/)
})

test('runner: --only selects by id, group or prefix, and rejects unknown names', () => {
  assert.deepEqual(
    selectChecks(ALL_CHECKS, ['etcd.leader']).map((c) => c.id),
    ['etcd.leader'],
  )
  assert.ok(selectChecks(ALL_CHECKS, ['etcd']).every((c) => c.group === 'etcd'))
  assert.equal(selectChecks(ALL_CHECKS, ['hugepages', 'numa']).length, 5)
  assert.throws(() => selectChecks(ALL_CHECKS, ['etcd.nope']), /unknown check or group: etcd\.nope/)
  // a plan only asks for what the selection needs, for the nodes it targets
  const p = plan(selectChecks(ALL_CHECKS, ['sysctls']), inventory(3))
  assert.deepEqual([...p.keys()], ['sysctls'])
  assert.deepEqual(
    p.get('sysctls')!.map((n) => n.name),
    ['validator1'],
  )
})

test('sources: parsers for talosctl mounts, ls -l and machine config documents', () => {
  assert.deepEqual(
    parseTalosMounts(
      'NODE       FILESYSTEM   SIZE(GB)   USED(GB)   AVAILABLE(GB)   PERCENT USED   MOUNTED ON\n10.0.0.1   /dev/sda6    10.00      2.50       7.50            25.00%         /var\n',
    ),
    [{ node: '10.0.0.1', mountedOn: '/var', sizeBytes: 10e9, availableBytes: 7.5e9 }],
  )
  const ls = tabwrite([
    ['NODE', 'MODE', 'UID', 'GID', 'SIZE(B)', 'LASTMOD', 'LABEL', 'NAME'],
    ['10.0.0.1', 'drwxr-x---', '1000', '1000', '4096', 'Jan  1 00:00:00', '', '.'],
    ['10.0.0.1', '-rw-r--r--', '0', '0', '5', 'Jan  1 00:00:00', '', 'x'],
  ])
  assert.deepEqual(ownerFromLs(ls, '10.0.0.1'), { uid: 1000, gid: 1000, mode: 'drwxr-x---' })
  assert.equal(ownerFromLs(ls, '10.0.0.2'), undefined)
  const doc = machineDocument(
    'apiVersion: v1alpha1\nkind: SideroLinkConfig\n---\nversion: v1alpha1\nmachine:\n  kubelet:\n    extraConfig:\n      cpuManagerPolicy: static\n',
  )
  assert.equal(doc?.machine.kubelet.extraConfig.cpuManagerPolicy, 'static')
})

// What the real talosctl v1.10.3 prints for `-n a,b,c version` (test/fixtures/talosctl/version-multi-node-*): a server
// section per node that answered, and a multierror line per node that did not.
function versionFake(
  inv: CheckInventory,
  opts: { refused?: string[]; hung?: string[]; timeoutMs: number; delayMs?: number },
) {
  const calls: string[][] = []
  const addr = (n: string) => inv.nodes.find((x) => x.name === n)!.address
  const refused = new Set((opts.refused ?? []).map(addr))
  const hung = new Set((opts.hung ?? []).map(addr))
  const server = (a: string) =>
    `\tNODE:        ${a}\n\tTag:         v1.10.3\n\tSHA:         undefined\n\tBuilt:       \n\tGo version:  go1.24.3\n\tOS/Arch:     linux/amd64\n\tEnabled:     RBAC\n`
  const run = async (args: string[], o: { nodes?: string[] } = {}): Promise<TalosRunResult> => {
    const nodes = o.nodes ?? []
    calls.push([...args, '-n', nodes.join(',')])
    const command = `talosctl -n ${nodes.join(',')} ${args.join(' ')}`
    if (nodes.some((n) => hung.has(n))) {
      await new Promise((r) => setTimeout(r, opts.timeoutMs))
      return { command, stdout: '', stderr: '', exitCode: 143, timedOut: true, durationMs: opts.timeoutMs }
    }
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs))
    const ok = nodes.filter((n) => !refused.has(n))
    const bad = nodes.filter((n) => refused.has(n))
    const errors = bad.length
      ? `${bad.length} error${bad.length > 1 ? 's' : ''} occurred:\n` +
        bad.map((n) => `\t* ${n}: rpc error: code = Unavailable desc = connection refused\n`).join('') +
        '\n\n'
      : ''
    return {
      command,
      stdout: `Client:\n\tTag:         v1.10.3\nServer:\n${ok.map(server).join('')}`,
      stderr: errors ? (ok.length ? `WARNING: ${errors}` : `error getting version: ${errors}`) : '',
      exitCode: ok.length ? 0 : 1,
    }
  }
  return { calls, talos: { run, timeoutMs: opts.timeoutMs } }
}

const probeCtx = (talos: SourceContext['talos']): SourceContext => ({
  talos,
  kube: { nodes: async () => [], pods: async () => [], csrs: async () => [] },
})

test('probe: one `talosctl -n a,b,c version` for 5 and for 100 nodes; a refused node gets its own error', async () => {
  for (const workers of [1, 96]) {
    const inv = inventory(workers)
    const fake = versionFake(inv, { refused: ['cp2'], timeoutMs: 30_000 })
    const silent = await probeTalos(inv.nodes, probeCtx(fake.talos))
    assert.equal(fake.calls.length, 1, `${inv.nodes.length} nodes`)
    assert.deepEqual(Object.keys(silent), ['cp2'])
    assert.match(silent.cp2!, /^rpc error: code = Unavailable desc = connection refused$/)
  }
})

test('probe: when no node answers, each still gets its own error', async () => {
  const inv = inventory(0)
  const fake = versionFake(inv, { refused: inv.nodes.map((n) => n.name), timeoutMs: 30_000 })
  const silent = await probeTalos(inv.nodes, probeCtx(fake.talos))
  assert.deepEqual(Object.keys(silent).sort(), inv.nodes.map((n) => n.name).sort())
  assert.equal(fake.calls.length, 1)
})

test('probe: a hung node holds the batched call, so single-node calls race it; only the hung node is silent', async () => {
  const inv = inventory(1)
  const fake = versionFake(inv, { hung: ['w0'], timeoutMs: 300 })
  const silent = await probeTalos(inv.nodes, probeCtx(fake.talos))
  assert.deepEqual(Object.keys(silent), ['w0'])
  assert.match(silent.w0!, /no answer within 300 ms \(--call-timeout\)/)
  // the batched call, then one per node: the hung node costs one call timeout, not one per source
  assert.equal(fake.calls.length, 1 + inv.nodes.length)
  assert.equal(fake.calls[0]!.at(-1), inv.nodes.map((n) => n.address).join(','))
})

test('probe: a missing talosctl is one error for the run, not a silent node each', async () => {
  const inv = inventory(0)
  const talos = {
    bin: '/nope/talosctl',
    run: async (args: string[]): Promise<TalosRunResult> => ({
      command: `talosctl ${args.join(' ')}`,
      stdout: '',
      stderr: 'bash: line 1: /nope/talosctl: No such file or directory\n',
      exitCode: 127,
    }),
  }
  await assert.rejects(probeTalos(inv.nodes, probeCtx(talos)), /talosctl is missing: \/nope\/talosctl cannot be run/)
})

test('probe: a slow but healthy batched call is raced by at most 8 single-node calls, and its answer is used', async () => {
  const inv = inventory(96)
  // hedge at 100 ms (a third of the timeout); every call takes 200 ms: the batch answers while the first 8 run
  const fake = versionFake(inv, { refused: ['w5'], timeoutMs: 300, delayMs: 200 })
  const silent = await probeTalos(inv.nodes, probeCtx(fake.talos))
  assert.deepEqual(Object.keys(silent), ['w5'])
  assert.ok(fake.calls.length <= 1 + 8, `${fake.calls.length} calls`)
})
