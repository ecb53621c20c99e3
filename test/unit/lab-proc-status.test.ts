// The pure renderers behind the lab's /proc/<pid>/limits and /proc/<pid>/status (lab/proc-status.ts): the kernel's
// formats and the capability sets and limits containerd's CRI gives a container on Talos.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  CAP_LAST_CAP,
  capMask,
  containerCaps,
  containerRlimits,
  CONTAINERD_DEFAULT_CAPS,
  inheritedRlimits,
  renderCap,
  renderProcLimits,
  renderProcStatus,
} from '../../lab/proc-status.ts'
import { normalizeImage } from '../../lab/containers.ts'

const base = {
  bounding: CONTAINERD_DEFAULT_CAPS,
  effective: CONTAINERD_DEFAULT_CAPS,
  permitted: CONTAINERD_DEFAULT_CAPS,
}

test('capability masks: render_cap_t, containerd defaults, CAP_LAST_CAP 40', () => {
  assert.equal(CAP_LAST_CAP, 40)
  // the well-known CapEff of a default Docker/containerd container
  assert.equal(renderCap(capMask(CONTAINERD_DEFAULT_CAPS)), '00000000a80425fb')
  assert.equal(renderCap(capMask(['CAP_CHECKPOINT_RESTORE'])), '0000010000000000')
  assert.equal(renderCap(capMask(['CAP_NOT_A_CAP'])), '0000000000000000')
})

test('container capabilities: add, drop, ALL, privileged, non-root', () => {
  const root = containerCaps({ base, capabilities: { add: ['IPC_LOCK', 'sys_nice'], drop: ['MKNOD'] }, uid: 0 })
  const want = capMask([...CONTAINERD_DEFAULT_CAPS.filter((c) => c !== 'CAP_MKNOD'), 'CAP_IPC_LOCK', 'CAP_SYS_NICE'])
  assert.equal(root.eff, want)
  assert.equal(root.prm, want)
  assert.equal(root.bnd, want)
  assert.equal(root.inh, 0n)
  assert.equal(root.amb, 0n)
  // privileged: containerd's own set, which Talos starts without cap_sys_boot (22) and cap_sys_module (16)
  const priv = containerCaps({ base, privileged: true, uid: 0 })
  assert.equal(renderCap(priv.eff), '000001ffffbeffff')
  assert.equal(containerCaps({ base, capabilities: { add: ['ALL'] }, uid: 0 }).eff, priv.eff)
  assert.equal(containerCaps({ base, capabilities: { drop: ['ALL'], add: ['NET_RAW'] }, uid: 0 }).eff, 1n << 13n)
  // execve as a non-root user without file capabilities: permitted and effective are empty, bounding stays
  const user = containerCaps({ base, capabilities: { add: ['IPC_LOCK'] }, uid: 1000 })
  assert.equal(user.eff, 0n)
  assert.equal(user.prm, 0n)
  assert.equal(user.bnd, capMask([...CONTAINERD_DEFAULT_CAPS, 'CAP_IPC_LOCK']))
})

test('limits: the inherited ones, the base spec applied in order, the kernel format', () => {
  const mem = 64 * 2 ** 30
  const inherited = inheritedRlimits(mem)
  const get = (rl: typeof inherited, t: string) => rl.find((r) => r.type === t)!
  assert.deepEqual(get(inherited, 'RLIMIT_NOFILE'), { type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 })
  assert.deepEqual(get(inherited, 'RLIMIT_MEMLOCK'), { type: 'RLIMIT_MEMLOCK', soft: 8388608, hard: 8388608 })
  // max_threads = RAM / (8 × 16 KiB), RLIMIT_NPROC its half
  assert.equal(get(inherited, 'RLIMIT_NPROC').soft, 262144)
  const spec = [
    { type: 'RLIMIT_MEMLOCK', soft: 1, hard: 1 },
    { type: 'RLIMIT_MEMLOCK', soft: 2000000000, hard: 2000000000 },
    // RLIM_INFINITY (2^64-1) as JSON.parse reads it from the spec
    { type: 'RLIMIT_CORE', soft: 2 ** 64, hard: 2 ** 64 },
  ]
  const rl = containerRlimits(spec, mem)
  assert.deepEqual(get(rl, 'RLIMIT_MEMLOCK'), { type: 'RLIMIT_MEMLOCK', soft: 2000000000, hard: 2000000000 })
  assert.equal(get(rl, 'RLIMIT_CORE').soft, 'unlimited')
  const text = renderProcLimits(rl).split('\n')
  assert.equal(text.length, 18) // header, 16 limits, the final newline
  assert.equal(text[0], 'Limit                     Soft Limit           Hard Limit           Units     ')
  assert.equal(text[1], 'Max cpu time              unlimited            unlimited            seconds   ')
  assert.equal(text[9], 'Max locked memory         2000000000           2000000000           bytes     ')
  // the two limits without a unit end after the hard limit's column
  assert.equal(text[14], 'Max nice priority         0                    0                    ')
  assert.equal(text[16], 'Max realtime timeout      unlimited            unlimited            us        ')
})

test('status: the kernel order and formats', () => {
  const text = renderProcStatus({
    name: 'agave-validator-long-name',
    pid: 4242,
    ppid: 4200,
    nsPid: 1,
    uid: 0,
    gid: 0,
    caps: containerCaps({ base, capabilities: { add: ['IPC_LOCK'] }, uid: 0 }),
    noNewPrivs: false,
    seccomp: true,
    sigpendingLimit: 262144,
    cpus: [2, 4, 18, 20],
    nrCpuIds: 32,
    mems: [0],
  })
  const keys = text
    .trim()
    .split('\n')
    .map((l) => l.split(':')[0])
  const order = [
    'Name',
    'Umask',
    'State',
    'Tgid',
    'Pid',
    'PPid',
    'Uid',
    'Gid',
    'Groups',
    'NSpid',
    'SigQ',
    'CapInh',
    'CapPrm',
    'CapEff',
    'CapBnd',
    'CapAmb',
    'NoNewPrivs',
    'Seccomp',
    'Cpus_allowed',
    'Cpus_allowed_list',
    'Mems_allowed',
    'Mems_allowed_list',
  ]
  assert.deepEqual(
    keys.filter((k) => order.includes(k)),
    order,
  )
  assert.match(text, /^Name:\tagave-validator\n/) // comm: the first 15 characters
  assert.match(text, /^Pid:\t4242$/m)
  assert.match(text, /^NSpid:\t4242\t1$/m)
  assert.match(text, /^Uid:\t0\t0\t0\t0$/m)
  assert.match(text, /^CapEff:\t00000000a80465fb$/m)
  assert.match(text, /^Cpus_allowed:\t00140014$/m)
  assert.match(text, /^Cpus_allowed_list:\t2,4,18,20$/m)
  // Mems_allowed spans MAX_NUMNODES (1024) bits: 32 groups of 8 hex digits
  const mems = /^Mems_allowed:\t(.*)$/m.exec(text)![1]!.split(',')
  assert.equal(mems.length, 32)
  assert.equal(mems.at(-1), '00000001')
  assert.match(text, /^Mems_allowed_list:\t0$/m)
})

test('images as containerd lists them', () => {
  assert.equal(normalizeImage('busybox'), 'docker.io/library/busybox:latest')
  assert.equal(normalizeImage('anzaxyz/agave:v2.2.14'), 'docker.io/anzaxyz/agave:v2.2.14')
  assert.equal(normalizeImage('registry.k8s.io/pause:3.10'), 'registry.k8s.io/pause:3.10')
  assert.equal(normalizeImage('localhost:5000/x'), 'localhost:5000/x:latest')
})
