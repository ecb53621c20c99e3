// 07 --validator-shape's pure parts: the pod it runs, the parsers of what talosctl reads on the node (verbatim
// samples in test/fixtures), and the verdict on the process.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { parseProcLimits, parseProcStatus } from '../../lib/host/procfs.ts'
import { capabilitiesOfMask, maskOfCapabilities } from '../../lib/host/capabilities.ts'
import { podSecurityRefusal, smokePodManifest, type SmokeInventory } from '../../steps/07-smoke-pod/smoke-pod.ts'
import { boundNumaNode, evaluateValidatorProcess } from '../../steps/07-smoke-pod/validator-process.ts'

const fixture = (p: string) => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8')
const inv = parse(readFileSync(new URL('../../inventory/lab.yaml', import.meta.url), 'utf8')) as SmokeInventory

test('/proc/<pid>/limits and /proc/<pid>/status as the kernel prints them', () => {
  const limits = parseProcLimits(fixture('samples/linux/proc-pid-limits.txt'))
  assert.equal(limits.size, 16)
  assert.deepEqual(limits.get('Max cpu time'), { soft: undefined, hard: undefined, units: 'seconds' })
  assert.equal(limits.get('Max nice priority')?.units, '')
  assert.ok(Number.isInteger(limits.get('Max open files')?.soft))
  assert.throws(() => parseProcLimits('Max open files  lots  lots  files\n'), /cannot read/)
  const status = parseProcStatus(fixture('samples/linux/proc-pid-status.txt'))
  assert.equal(status.Cpus_allowed_list, '0-1')
  assert.equal(status.Mems_allowed_list, '0')
  assert.match(status.CapEff!, /^[0-9a-f]{16}$/)
})

test('capability masks: names ↔ the 16 hex digits of CapEff', () => {
  assert.equal(maskOfCapabilities(['NET_ADMIN', 'CAP_NET_RAW']), '0000000000003000')
  assert.deepEqual(capabilitiesOfMask('0000000000003000'), ['NET_ADMIN', 'NET_RAW'])
  assert.deepEqual(capabilitiesOfMask(maskOfCapabilities(['BPF', 'PERFMON'])), ['PERFMON', 'BPF'])
  assert.equal(capabilitiesOfMask('000001ffffffffff').length, 41) // CAP_LAST_CAP 40
  assert.throws(() => maskOfCapabilities(['NET_FLY']), /unknown capability/)
  assert.throws(() => capabilitiesOfMask('xyz'), /not a capability mask/)
})

test('--validator-shape manifest: host network and the XDP capabilities; the plain one has neither', () => {
  const shaped = smokePodManifest(inv, { validatorShape: true, namespace: 'solana' }) as any
  assert.equal(shaped.spec.hostNetwork, true)
  assert.equal(shaped.spec.dnsPolicy, 'ClusterFirstWithHostNet')
  assert.deepEqual(shaped.spec.containers[0].securityContext.capabilities.add, [
    'NET_ADMIN',
    'NET_RAW',
    'BPF',
    'PERFMON',
  ])
  const socket = smokePodManifest(
    { ...inv, validator: { ...inv.validator, netProvider: 'socket' } },
    {
      validatorShape: true,
    },
  ) as any
  assert.deepEqual(socket.spec.containers[0].securityContext.capabilities.add, [])
  const plain = smokePodManifest(inv) as any
  assert.equal(plain.spec.hostNetwork, undefined)
  assert.equal(plain.spec.containers[0].securityContext, undefined)
})

test("podSecurityRefusal: the API server's verdict out of kubectl's error, nothing for other refusals", () => {
  // the real kube-apiserver v1.33.1's refusal (test/lab/real-kube-apiserver.test.ts compares the lab's with it)
  const stderr =
    'Error from server (Forbidden): error when creating "STDIN": pods "talos-runbooks-smoke" is forbidden: violates ' +
    'PodSecurity "baseline:latest": non-default capabilities (container "smoke" must not include "BPF", "NET_ADMIN", ' +
    '"NET_RAW", "PERFMON" in securityContext.capabilities.add), host namespaces (hostNetwork=true)\n'
  assert.match(
    podSecurityRefusal(stderr)!,
    /^violates PodSecurity "baseline:latest": non-default .*hostNetwork=true\)$/,
  )
  assert.equal(podSecurityRefusal('Error from server (NotFound): namespaces "solana" not found'), undefined)
})

// A process as the validator needs it: 2 exclusive CPUs of NUMA node 1, its memory there, the limits and caps.
const limitsText = (memlock: string, nofile: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    `Max open files            ${nofile.padEnd(20)} ${nofile.padEnd(20)} files     `,
    `Max locked memory         ${memlock.padEnd(20)} ${memlock.padEnd(20)} bytes     `,
  ].join('\n')
const statusText = (o: { caps?: string[]; cpus?: string; mems?: string } = {}) =>
  [
    'Name:\tpause',
    `CapEff:\t${maskOfCapabilities(o.caps ?? ['CHOWN', 'NET_ADMIN', 'NET_RAW', 'BPF', 'PERFMON'])}`,
    `Cpus_allowed_list:\t${o.cpus ?? '18-19'}`,
    `Mems_allowed_list:\t${o.mems ?? '1'}`,
  ].join('\n')
const wanted = { cpus: 2, reservedCpus: [0, 1, 16, 17], capabilities: ['NET_ADMIN', 'NET_RAW', 'BPF', 'PERFMON'] }

test('evaluateValidatorProcess: the right process passes and shows what it saw', () => {
  const r = evaluateValidatorProcess(
    { limits: limitsText('2000000000', '1048576'), status: statusText(), numaCpuList: '16-31' },
    wanted,
  )
  assert.deepEqual(r.problems, [])
  assert.equal(r.seen.memlock, '2000000000')
  assert.equal(r.seen.cpus, '18-19')
  assert.equal(boundNumaNode(statusText()), 1)
  // unlimited is at least anything
  assert.deepEqual(
    evaluateValidatorProcess(
      { limits: limitsText('unlimited', '1048576'), status: statusText(), numaCpuList: '16-31' },
      wanted,
    ).problems,
    [],
  )
})

test('evaluateValidatorProcess: each broken rule is named', () => {
  const problems = (limits: string, status: string, numaCpuList?: string) =>
    evaluateValidatorProcess({ limits, status, numaCpuList }, wanted).problems.join('\n')
  const good = limitsText('2000000000', '1048576')
  assert.match(
    problems(limitsText('8388608', '1048576'), statusText(), '16-31'),
    /Max locked memory is 8388608, the validator needs at least 2000000000/,
  )
  assert.match(problems(limitsText('2000000000', '1024'), statusText(), '16-31'), /Max open files is 1024/)
  assert.match(
    problems(good, statusText({ caps: ['CHOWN', 'NET_RAW'] }), '16-31'),
    /lacks capabilities NET_ADMIN, BPF, PERFMON/,
  )
  assert.match(
    problems(good, statusText({ cpus: '2-31' }), '16-31'),
    /runs on CPUs 2-31 \(30\), not on 2 exclusive ones/,
  )
  assert.match(problems(good, statusText({ cpus: '16-17' }), '16-31'), /shares CPUs 16-17 reserved for the system/)
  assert.match(
    problems(good, statusText({ mems: '0-1' })),
    /memory is not bound to one NUMA node \(Mems_allowed_list 0-1\)/,
  )
  assert.match(problems(good, statusText({ cpus: '2-3', mems: '1' }), '16-31'), /CPUs 2-3 are not on NUMA node 1/)
})
