// The pure decisions the runbooks make: what provisioning may write, when etcd counts as bootstrapped,
// which CSRs get approved, what a config diff shows, what storage and ownership need.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  parseLsblk,
  planDiskWrite,
  resolveFingerprint,
  sha256Command,
  parseSha256sum,
} from '../../steps/install-image.ts'
import { assertSafeToBootstrap } from '../../steps/03-bootstrap/steps.ts'
import { missingStaticPods } from '../../steps/static-pods.ts'
import { evaluateEtcd, isBootstrapped } from '../../steps/etcd-view.ts'
import { decideCsr, parseCsrSans, validatorProblems } from '../../steps/join.ts'
import { canonical, redactDiff } from '../../steps/configure.ts'
import {
  storageProblems,
  missingTaints,
  missingLabels,
  modeToOctal,
  ownershipProblems,
  permissionsPodManifest,
  reservationProblems,
} from '../../steps/05-storage-tuning/steps.ts'
import { parseOneShotScript, hostPathOf, isOneShot } from '../../lab/kubelet-agent/oneshot.ts'
import { fingerprintOf } from '../../lib/host/ssh.ts'
import type { InventoryNode } from '../../config/inventory.ts'
import type { KubeCsr, KubeNode, KubePod } from '../../lib/kube/kubectl.ts'

const node = (o: Partial<InventoryNode>) =>
  ({ name: 'cp1', address: '10.0.0.11', role: 'controlplane', installDisk: '/dev/sda', ...o }) as InventoryNode

test('lsblk JSON: whole disks only, /dev paths, numeric sizes', () => {
  const disks = parseLsblk(
    JSON.stringify({
      blockdevices: [
        { name: 'sda', size: '64000000000', model: 'QEMU HARDDISK ', serial: null, type: 'disk' },
        { name: 'sda1', size: 1000, model: null, serial: null, type: 'part' },
        { name: 'nvme0n1', size: 512000000000, model: 'LAB NVMe', serial: 'S1', type: 'disk' },
      ],
    }),
  )
  assert.deepEqual(
    disks.map((d) => [d.dev, d.sizeBytes, d.model]),
    [
      ['/dev/sda', 64e9, 'QEMU HARDDISK'],
      ['/dev/nvme0n1', 512e9, 'LAB NVMe'],
    ],
  )
})

test('a disk write is refused when the install disk is missing or too small', () => {
  const image = { file: 'x', sizeBytes: 100, sha256: 'ab' }
  const disks = [{ dev: '/dev/sdb', sizeBytes: 1000, model: 'M', serial: '', type: 'disk' }]
  assert.throws(
    () => planDiskWrite(node({}), disks, image),
    /cp1: install disk \/dev\/sda is not on the host; it has \/dev\/sdb/,
  )
  assert.throws(
    () => planDiskWrite(node({ installDisk: '/dev/sdb' }), disks, { ...image, sizeBytes: 5000 }),
    /holds 1000 bytes, the image needs 5000/,
  )
  assert.equal(planDiskWrite(node({ installDisk: '/dev/sdb' }), disks, image).disk.dev, '/dev/sdb')
})

test('the read-back checksum covers exactly the image length', () => {
  assert.equal(sha256Command('/dev/sda', 6291456), 'head -c 6291456 /dev/sda | sha256sum')
  assert.equal(parseSha256sum('e3b0c442  -\n'), 'e3b0c442')
})

test('host key fingerprints: inline, from a file, or refused', () => {
  assert.equal(resolveFingerprint('SHA256:abc'), 'SHA256:abc')
  assert.throws(() => resolveFingerprint('md5:xx'), /must be SHA256/)
  assert.throws(() => resolveFingerprint('file:/nonexistent/fp'), /does not exist/)
  assert.match(fingerprintOf(Buffer.from('key')), /^SHA256:[A-Za-z0-9+/]+$/)
})

test('bootstrapped = some etcd Running or members listed; unreachable nodes block a bootstrap', () => {
  const prep = { id: 'etcd', state: 'Preparing', health: '?' }
  assert.equal(isBootstrapped({ service: { cp1: prep, cp2: prep }, unreachable: {}, members: [] }), false)
  assert.equal(
    isBootstrapped({ service: { cp1: prep, cp2: { ...prep, state: 'Running' } }, unreachable: {}, members: [] }),
    true,
  )
  assert.throws(
    () => assertSafeToBootstrap({ service: { cp1: prep }, unreachable: { cp2: 'connection refused' }, members: [] }),
    /cp2 did not answer/,
  )
})

test('etcd health: every CP a voting member, no errors, one leader', () => {
  const m = (id: string, hostname: string, learner = false) => ({ id, hostname, peerUrls: [], clientUrls: [], learner })
  const s = (node: string, leader: string, errors = '') => ({
    node,
    memberId: '',
    dbSize: 0,
    dbSizeText: '',
    dbSizeInUse: 0,
    dbSizeInUseText: '',
    inUsePercent: 0,
    leader,
    isLeader: false,
    raftIndex: 1,
    raftTerm: 2,
    raftAppliedIndex: 1,
    learner: false,
    errors,
  })
  const members = [m('a', 'cp1'), m('b', 'cp2'), m('c', 'cp3', true)]
  assert.match(String(evaluateEtcd(['cp1', 'cp2', 'cp3'], members, [])), /not yet members: cp3/)
  const all = [m('a', 'cp1'), m('b', 'cp2'), m('c', 'cp3')]
  assert.match(
    String(evaluateEtcd(['cp1', 'cp2', 'cp3'], all, [s('cp1', 'a'), s('cp2', 'b'), s('cp3', 'a')])),
    /disagree on the leader/,
  )
  assert.match(
    String(evaluateEtcd(['cp1', 'cp2', 'cp3'], all, [s('cp1', 'a'), s('cp2', 'a', 'timeout'), s('cp3', 'a')])),
    /cp2: timeout/,
  )
  // talosctl exits 0 and leaves out the row of a node that failed: one row per control plane is required
  assert.match(
    String(evaluateEtcd(['cp1', 'cp2', 'cp3'], all, [s('cp1', 'b'), s('cp2', 'b')])),
    /no etcd status from cp3/,
  )
  const ok = evaluateEtcd(['cp1', 'cp2', 'cp3'], all, [s('cp1', 'b'), s('cp2', 'b'), s('cp3', 'b')])
  assert.equal(typeof ok === 'object' && ok.leader, 'cp2')
})

test('static pods: every CP needs its three Running control-plane pods', () => {
  const pod = (name: string, phase = 'Running') => ({ metadata: { name }, status: { phase } }) as unknown as KubePod
  const missing = missingStaticPods(['cp1'], [pod('kube-apiserver-cp1'), pod('kube-scheduler-cp1', 'Pending')])
  assert.deepEqual(missing, ['kube-controller-manager-cp1', 'kube-scheduler-cp1'])
})

test('CSRs: approved only for an inventory node requesting its own names', () => {
  const nodes = [node({ name: 'worker1', address: '10.0.0.22', role: 'worker' })]
  const csr = (username: string, signerName = 'kubernetes.io/kubelet-serving') =>
    ({ metadata: { name: 'csr-1' }, spec: { request: 'x', signerName, username } }) as unknown as KubeCsr
  assert.equal(decideCsr(csr('system:node:worker1'), nodes, () => ['worker1', '10.0.0.22']).approve, true)
  assert.match(
    decideCsr(csr('system:node:worker1'), nodes, () => ['worker1', '10.9.9.9']).reason,
    /10.9.9.9 do not belong to worker1/,
  )
  assert.match(decideCsr(csr('system:node:intruder'), nodes, () => []).reason, /no inventory node/)
  // 12-replace-node approves the replaced node's only, and says so of the others
  assert.equal(
    decideCsr(csr('system:node:cp1'), nodes, () => [], 'not worker1, the node being replaced').reason,
    'requester system:node:cp1 is not worker1, the node being replaced',
  )
  assert.match(
    decideCsr(csr('system:node:worker1', 'kubernetes.io/kube-apiserver-client'), nodes, () => []).reason,
    /not kubelet-serving/,
  )
  assert.deepEqual(
    parseCsrSans('        X509v3 Subject Alternative Name: \n            DNS:worker1, IP Address:10.0.0.22\n'),
    ['worker1', '10.0.0.22'],
  )
})

test('validator huge pages must match the inventory, every pool', () => {
  const k = (gi: string, mi = '0') =>
    ({
      metadata: { name: 'v' },
      status: { allocatable: { 'hugepages-1Gi': gi, 'hugepages-2Mi': mi } },
    }) as unknown as KubeNode
  const one = [{ size: '1Gi' as const, perNumaNode: [4, 4] }]
  assert.deepEqual(validatorProblems(k('8Gi'), one), [])
  assert.match(validatorProblems(k('0'), one)[0]!, /is 0, the inventory asks for 8Gi/)
  const both = [...one, { size: '2Mi' as const, perNumaNode: [128, 128] }]
  assert.deepEqual(validatorProblems(k('8Gi', '512Mi'), both), [])
  assert.deepEqual(validatorProblems(k('8Gi'), both), ['allocatable hugepages-2Mi is 0, the inventory asks for 512Mi'])
})

test('config diffs ignore key order and never show secrets', () => {
  assert.equal(canonical('a: 1\nb: {y: 2, x: 1}\n'), canonical('b: {x: 1, y: 2}\na: 1\n'))
  assert.notEqual(canonical('a: 1\n'), canonical('a: 2\n'))
  const d = redactDiff('-    "key": "LS0tLS1CRUdJTi"\n+    "token": "abc.def"\n     "hostname": "cp1"')
  assert.doesNotMatch(d, /LS0tLS1CRUdJTi|abc\.def/)
  assert.match(d, /"hostname": "cp1"/)
})

test('storage: mounted with the right filesystem, labels and taints, reservations', () => {
  const want = [
    { name: 'ledger', mountPoint: '/var/mnt/ledger', filesystem: 'xfs' },
    { name: 'accounts', mountPoint: '/var/mnt/accounts', filesystem: 'xfs' },
  ]
  const problems = storageProblems(want, [{ source: '/dev/nvme1n1p1', target: '/var/mnt/ledger', filesystem: 'ext4' }])
  assert.equal(problems.length, 2)
  assert.match(problems[0]!, /ledger: \/var\/mnt\/ledger is ext4/)
  assert.match(problems[1]!, /accounts: nothing mounted/)
  const k = {
    metadata: { name: 'v', labels: { a: '1' } },
    spec: { taints: [{ key: 't', value: 'true', effect: 'NoSchedule' }] },
    status: { capacity: { memory: '64Gi', 'hugepages-1Gi': '8Gi' }, allocatable: { memory: '52Gi' } },
  } as unknown as KubeNode
  assert.deepEqual(missingLabels(k, { a: '1', b: '2' }), { b: '2' })
  assert.deepEqual(
    missingTaints(k, [
      { key: 't', value: 'true', effect: 'NoSchedule' },
      { key: 'u', value: '', effect: 'NoExecute' },
    ]),
    [{ key: 'u', value: '', effect: 'NoExecute' }],
  )
  assert.deepEqual(reservationProblems(k, 4 * 2 ** 30), [])
  assert.match(reservationProblems(k, 5 * 2 ** 30)[0]!, /holds back 4.00 GiB/)
})

test('ownership: octal or ls-style modes, and the one-shot pod that fixes it', () => {
  assert.equal(modeToOctal('drwxr-x---'), '0750')
  assert.equal(modeToOctal('755'), '0755')
  const w = { name: 'ledger', mountPoint: '/var/mnt/ledger', owner: { uid: 1000, gid: 1000 }, mode: '0750' }
  assert.equal(ownershipProblems(w, { uid: 1000, gid: 1000, mode: 'drwxr-x---' }), undefined)
  // owner and mode are the data dir's (default <mountPoint>/data): Talos resets the mount root at every mount
  assert.match(
    ownershipProblems(w, { uid: 0, gid: 0, mode: '0755' })!,
    /^\/var\/mnt\/ledger\/data is 0:0 0755, wants 1000:1000 0750/,
  )
  assert.match(ownershipProblems(w, undefined)!, /^\/var\/mnt\/ledger\/data does not exist/)
  const pod = permissionsPodManifest(
    'validator1',
    [w],
    [{ key: 't', value: 'true', effect: 'NoSchedule' }],
  ) as unknown as Record<string, any>
  assert.equal(pod.spec.nodeName, 'validator1')
  // the data dir is created (idempotent: mkdir -p) and chowned/chmodded, never the mount root /vol0 itself
  assert.equal(
    pod.spec.containers[0].command[2],
    'mkdir -p /vol0/data && chown 1000:1000 /vol0/data && chmod 0750 /vol0/data',
  )
  assert.deepEqual(pod.spec.volumes[0].hostPath, { path: '/var/mnt/ledger', type: 'Directory' })
  const nested = permissionsPodManifest('validator1', [{ ...w, dataDir: '/var/mnt/ledger/solana/ledger' }], []) as any
  assert.equal(
    nested.spec.containers[0].command[2],
    'mkdir -p /vol0/solana/ledger && chown 1000:1000 /vol0/solana/ledger && chmod 0750 /vol0/solana/ledger',
  )
  // the lab kubelet runs exactly this pod, and maps its paths back to the host
  assert.equal(isOneShot(pod), true)
  assert.deepEqual(parseOneShotScript(pod.spec.containers[0].command[2]), [
    { op: 'mkdir', path: '/vol0/data' },
    { op: 'chown', uid: 1000, gid: 1000, path: '/vol0/data' },
    { op: 'chmod', mode: '0750', path: '/vol0/data' },
  ])
  assert.equal(hostPathOf(pod, pod.spec.containers[0], '/vol0/data'), '/var/mnt/ledger/data')
  assert.throws(() => parseOneShotScript('rm -rf /'), /runs only mkdir -p PATH \/ chown/)
  assert.throws(() => parseOneShotScript('mkdir /x'), /runs only mkdir -p/)
  assert.equal(isOneShot({ spec: { restartPolicy: 'Never', containers: [{ command: ['sleep', '3600'] }] } }), false)
})
