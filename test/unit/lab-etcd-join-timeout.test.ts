// The lab machine model's etcd join timeout (Talos v1.10.3 constants.EtcdJoinTimeout, services/etcd.go:314 and
// :513-516): a control plane's etcd with an empty data dir shows Preparing until the timeout after its boot, then Failed
// with Talos's message; $TALOS_LAB_ETCD_JOIN_TIMEOUT_MS sets it (default 30 minutes). And `talosctl ls /var/lib/etcd`
// reads the node's real etcd data dir.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeServices } from '../../lab/machine-services.ts'
import { etcdJoinGaveUpAt, etcdJoinTimeoutMs } from '../../lab/node-services.ts'
import { sysrootPath } from '../../lab/machine-files.ts'
import { loadNode, saveCluster, saveNode, type LabNode } from '../../lab/state.ts'

describe('lab: etcd gives up waiting to join after the join timeout', () => {
  const saved = {
    dir: process.env.TALOS_LAB_DIR,
    timeout: process.env.TALOS_LAB_ETCD_JOIN_TIMEOUT_MS,
    timeSync: process.env.TALOS_LAB_TIME_SYNC_MS,
  }
  let dir: string
  const cp = (bootedAgoMs: number, extra: Partial<LabNode> = {}): LabNode => {
    const n = {
      name: 'cp1',
      address: '127.0.250.11',
      role: 'controlplane',
      stage: 'running',
      bootedAt: new Date(Date.now() - bootedAgoMs).toISOString(),
      bootstrapped: false,
      etcd: { clientUrl: 'https://127.0.250.11:2379', peerUrl: 'https://127.0.250.11:2380' },
      kubeApi: { url: 'https://127.0.250.11:6443' },
      faults: {},
      ...extra,
    } as LabNode
    saveNode(n)
    return loadNode('cp1')
  }
  const etcd = async (n: LabNode) => (await nodeServices(n)).find((s) => s.id === 'etcd')!
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'join-timeout-'))
    process.env.TALOS_LAB_DIR = dir
    mkdirSync(join(dir, 'nodes/cp1'), { recursive: true })
    saveCluster({ name: 't', inventory: 't', endpoint: '', createdAt: '', nodes: ['cp1'], processes: [] })
  })
  after(() => {
    rmSync(dir, { recursive: true, force: true })
    for (const [k, v] of [
      ['TALOS_LAB_DIR', saved.dir],
      ['TALOS_LAB_ETCD_JOIN_TIMEOUT_MS', saved.timeout],
      ['TALOS_LAB_TIME_SYNC_MS', saved.timeSync],
    ] as const)
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
  })

  it("defaults to Talos's 30 minutes: Preparing 10 s after boot, Failed 31 minutes after", async () => {
    delete process.env.TALOS_LAB_ETCD_JOIN_TIMEOUT_MS
    assert.equal(etcdJoinTimeoutMs(), 30 * 60_000)
    assert.equal((await etcd(cp(10_000))).state, 'Preparing')
    const late = await etcd(cp(31 * 60_000))
    assert.equal(late.state, 'Failed')
    assert.match(
      late.events.at(-1)!.msg,
      /^Failed to run pre stage: failed to build initial etcd cluster: failed to build cluster arguments: 1 error\(s\) occurred:\n\ttimeout$/,
    )
  })

  it('the setting shortens it; the Failed event is dated at the timeout after the pre stage started', async () => {
    process.env.TALOS_LAB_ETCD_JOIN_TIMEOUT_MS = '5000'
    // the pre stage starts once the clock is synchronised (services/etcd.go Condition), 1 s after the boot here
    process.env.TALOS_LAB_TIME_SYNC_MS = '1000'
    try {
      assert.equal((await etcd(cp(500))).state, 'Waiting')
      assert.equal((await etcd(cp(2000))).state, 'Preparing')
      const n = cp(20_000)
      const s = await etcd(n)
      assert.equal(s.state, 'Failed')
      assert.equal(s.events.at(-1)!.ts, Date.parse(n.bootedAt!) + 1000 + 5000)
      assert.equal(etcdJoinGaveUpAt(n), Date.parse(n.bootedAt!) + 1000 + 5000)
    } finally {
      delete process.env.TALOS_LAB_TIME_SYNC_MS
    }
  })

  it('only an empty data dir waits: a node with data, a failed restore or destroyed data never gives up', async () => {
    process.env.TALOS_LAB_ETCD_JOIN_TIMEOUT_MS = '5000'
    assert.equal(etcdJoinGaveUpAt(cp(20_000, { faults: { etcdDataLoss: true } })), undefined)
    const failedRestore = cp(20_000, {
      etcd: { clientUrl: '', peerUrl: '', recoverError: 'error recovering from the snapshot: expected sha256' },
    })
    assert.equal(etcdJoinGaveUpAt(failedRestore), undefined)
    assert.match((await etcd(failedRestore)).events.at(-1)!.msg, /error recovering from the snapshot/)
    mkdirSync(join(dir, 'nodes/cp1/etcd/member/snap'), { recursive: true })
    writeFileSync(join(dir, 'nodes/cp1/etcd/member/snap/db'), '')
    assert.equal(etcdJoinGaveUpAt(cp(20_000)), undefined)
    rmSync(join(dir, 'nodes/cp1/etcd'), { recursive: true })
  })

  it("/var/lib/etcd of a control plane is its real etcd data dir; /var/lib/etcd.snapshot and others the sysroot's", () => {
    const n = cp(0)
    assert.equal(sysrootPath(n, '/var/lib/etcd'), join(dir, 'nodes/cp1/etcd'))
    assert.equal(sysrootPath(n, '/var/lib/etcd/member/snap'), join(dir, 'nodes/cp1/etcd/member/snap'))
    assert.equal(sysrootPath(n, '/var/lib/etcd.snapshot'), join(dir, 'nodes/cp1/root/var/lib/etcd.snapshot'))
    assert.equal(sysrootPath({ ...n, role: 'worker' }, '/var/lib/etcd'), join(dir, 'nodes/cp1/root/var/lib/etcd'))
  })
})
