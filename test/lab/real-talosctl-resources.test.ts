// Every COSI resource the lab's machines serve, read by the real talosctl v1.10.3 through lab/talos-api, which decodes
// each spec strictly into Talos's own Go type: a spec field Talos does not have fails the `get`. The tests state
// what a real machine answers (IDs, namespaces, spec fields, print columns), with the source that says so.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { createTestLab, versionFromAll, type RunResult, type TestLab } from '../../lab/testlab.ts'
import { portOpen } from '../../lab/processes.ts'
import { registerSchematic } from '../../lab/factory.ts'
import { RESOURCE_KINDS } from '../../lab/machine-api/resources.ts'

const P = '127.0.56'
const CP = `${P}.11`
const W = `${P}.21`
let lab: TestLab

interface Doc {
  node: string
  metadata: { namespace: string; type: string; id: string; owner: string }
  spec: any
}
const docs = (yaml: string): Doc[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean)
const header = (table: string) =>
  table
    .split('\n')[0]!
    .trim()
    .split(/\s{2,}/)
/** The ID column of a table, read at the header's offset (tabwriter aligns columns; NODE is blank in maintenance). */
const ids = (table: string) => {
  const [head, ...rows] = table.trimEnd().split('\n')
  const at = head!.search(/\bID\b/)
  return rows.map((l) => l.slice(at).split(/\s+/)[0]!)
}

/** The server's resource definition: print columns (names) and default namespace, as Talos registers the type. */
async function definition(
  as: (a: string[]) => Promise<RunResult>,
  node: string,
  type: string,
): Promise<{ columns: string[]; namespace: string }> {
  const r = await as(['-n', node, 'get', 'rd', type.toLowerCase(), '-o', 'yaml'])
  assert.equal(r.code, 0, r.stderr)
  const spec = docs(r.stdout)[0]!.spec
  return {
    columns: (spec.printColumns ?? []).map((c: { name: string }) => c.name.toUpperCase()),
    namespace: spec.defaultNamespace,
  }
}

describe('the real talosctl reads every resource the lab serves', { timeout: 240_000 }, () => {
  const saved = process.env.TALOS_LAB_DIR
  let schematic: string
  before(async () => {
    lab = await createTestLab({ prefix: P, controlPlanes: 1, workers: 1, cluster: 'restest' })
    process.env.TALOS_LAB_DIR = lab.dir
    // the worker has a second disk for a user volume
    lab.update('w1', (n) => {
      n.hardware.disks.push({
        dev: '/dev/nvme0n1',
        sizeBytes: 1e12,
        model: 'LAB NVMe LEDGER',
        serial: 'LABLDG00000009',
        transport: 'nvme',
        rotational: false,
      })
    })
    schematic = registerSchematic(
      'customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/amd-ucode\n',
    )
    await lab.until('the maintenance API', () => portOpen(CP, 50000))
  })
  after(async () => {
    await lab?.cleanup()
    if (saved === undefined) delete process.env.TALOS_LAB_DIR
    else process.env.TALOS_LAB_DIR = saved
  })

  describe('in maintenance mode', () => {
    it('`get disks --insecure`: the Disk resources, ID the kernel device name, block.Disk columns and fields', async () => {
      const r = await lab.run(['-n', W, 'get', 'disks', '--insecure'])
      assert.equal(r.code, 0, r.stderr)
      // pkg/machinery/resources/block/disk.go print columns (NODE is blank: talosctl talks to the node itself)
      assert.deepEqual(header(r.stdout), [
        'NODE',
        'NAMESPACE',
        'TYPE',
        'ID',
        'VERSION',
        'SIZE',
        'READ ONLY',
        'TRANSPORT',
        'ROTATIONAL',
        'WWID',
        'MODEL',
        'SERIAL',
      ])
      assert.deepEqual(ids(r.stdout).sort(), ['nvme0n1', 'sda'])
      const y = await lab.run(['-n', W, 'get', 'disks', 'nvme0n1', '--insecure', '-o', 'yaml'])
      assert.equal(y.code, 0, y.stderr)
      const d = docs(y.stdout)[0]!
      assert.equal(d.metadata.namespace, 'runtime')
      assert.equal(d.metadata.owner, 'block.DisksController')
      assert.equal(d.spec.dev_path, '/dev/nvme0n1')
      assert.equal(d.spec.pretty_size, '1.0 TB')
      assert.equal(d.spec.transport, 'nvme')
    })

    it('`get machinestatus --insecure`: stage maintenance, ready with no checks (machine_status.go getReadinessChecks)', async () => {
      const r = await lab.run(['-n', W, 'get', 'machinestatus', '--insecure', '-o', 'yaml'])
      assert.equal(r.code, 0, r.stderr)
      const d = docs(r.stdout)[0]!
      assert.equal(d.metadata.id, 'machine')
      assert.equal(d.spec.stage, 'maintenance')
      assert.equal(d.spec.status.ready, true)
    })
  })

  describe('configured by the real talosctl', () => {
    let gen: string
    const as = (args: string[]) => lab.run(['--talosconfig', join(gen, 'talosconfig'), '-e', CP, ...args])
    before(async () => {
      gen = join(lab.dir, 'gen')
      const secrets = join(lab.dir, 'real-secrets.yaml')
      assert.equal((await lab.run(['gen', 'secrets', '-o', secrets])).code, 0)
      const cpPatch = join(lab.dir, 'cp-patch.yaml')
      writeFileSync(cpPatch, 'machine:\n  sysctls:\n    vm.swappiness: "7"\n')
      const wPatch = join(lab.dir, 'w-patch.yaml')
      writeFileSync(
        wPatch,
        [
          'machine:',
          '  network:',
          '    hostname: validator-1',
          '  install:',
          `    image: factory.talos.dev/metal-installer/${schematic}:v1.10.3`,
          '  sysctls:',
          '    net.core.rmem_max: "134217728"',
          '',
        ].join('\n'),
      )
      const g = await lab.run([
        'gen',
        'config',
        'restest',
        `https://${CP}:6443`,
        '--with-secrets',
        secrets,
        '--config-patch-control-plane',
        `@${cpPatch}`,
        '--config-patch-worker',
        `@${wPatch}`,
        '-o',
        gen,
      ])
      assert.equal(g.code, 0, g.stderr)
      appendFileSync(
        join(gen, 'worker.yaml'),
        [
          '---',
          'apiVersion: v1alpha1',
          'kind: UserVolumeConfig',
          'name: ledger',
          'provisioning:',
          '  diskSelector:',
          '    match: disk.transport == "nvme"',
          '  minSize: 100GiB',
          'filesystem:',
          '  type: xfs',
          '',
        ].join('\n'),
      )
      for (const [addr, file] of [
        [CP, 'controlplane.yaml'],
        [W, 'worker.yaml'],
      ] as const) {
        const a = await lab.run(['apply-config', '--insecure', '-n', addr, '--file', join(gen, file)])
        assert.equal(a.code, 0, a.stderr)
      }
      await lab.until(
        'both machines configured',
        async () => versionFromAll(await as(['-n', `${CP},${W}`, 'version']), [CP, W]),
        60_000,
      )
    })

    for (const type of Object.keys(RESOURCE_KINDS)) {
      it(`\`get ${type}\` decodes into Talos's type on both machines, with its definition's columns and namespace`, async () => {
        const rd = await definition(as, CP, type)
        assert.equal(rd.namespace, RESOURCE_KINDS[type]!.namespace)
        const t = await as(['-n', `${CP},${W}`, 'get', type])
        assert.equal(t.code, 0, t.stderr)
        assert.deepEqual(header(t.stdout), ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', ...rd.columns])
        const y = await as(['-n', `${CP},${W}`, 'get', type, '-o', 'yaml'])
        assert.equal(y.code, 0, y.stderr)
        for (const d of docs(y.stdout)) {
          assert.equal(d.metadata.type, type)
          assert.notEqual(d.metadata.owner, '', `${type} ${d.metadata.id} has its controller as owner`)
        }
      })
    }

    it('`get mountstatus` is block.MountStatus: the user volume u-ledger, xfs, at /var/mnt/ledger on its partition', async () => {
      const r = await as(['-n', W, 'get', 'mountstatus', 'u-ledger', '-o', 'yaml'])
      assert.equal(r.code, 0, r.stderr)
      const d = docs(r.stdout)[0]!
      assert.equal(d.metadata.type, 'MountStatuses.block.talos.dev')
      assert.equal(d.spec.filesystem, 'xfs')
      assert.equal(d.spec.source, '/dev/nvme0n1p1')
      assert.equal(d.spec.target, '/var/mnt/ledger')
      // user_volume_config.go: parent /var/mnt, requested by the UserVolumeConfigController under the volume's ID
      assert.deepEqual(d.spec.spec, {
        volumeID: 'u-ledger',
        parentID: '/var/mnt',
        readOnly: false,
        requesters: ['block.UserVolumeConfigController'],
        requesterIDs: ['u-ledger'],
      })
      const all = await as(['-n', W, 'get', 'mountstatus'])
      assert.ok(ids(all.stdout).includes('EPHEMERAL'), all.stdout)
      assert.ok(!ids(all.stdout).includes('ETCD'), 'etcd does not run on a worker: nobody mounts its volume')
      assert.ok(!ids(all.stdout).includes('STATE'), 'STATE is mounted only while machined reads or writes it')
      const legacy = await as(['-n', W, 'get', 'mountstatuses.runtime.talos.dev', 'u-ledger', '-o', 'yaml'])
      assert.equal(legacy.code, 0, legacy.stderr)
      assert.equal(docs(legacy.stdout)[0]!.spec.filesystemType, 'xfs')
    })

    it('`get volumestatus`: the user volume and EPHEMERAL ready, as partitions of their disks', async () => {
      const r = await as(['-n', W, 'get', 'volumestatus', '-o', 'yaml'])
      assert.equal(r.code, 0, r.stderr)
      const byId = new Map(docs(r.stdout).map((d) => [d.metadata.id, d.spec]))
      assert.equal(byId.get('u-ledger')?.phase, 'ready')
      assert.equal(byId.get('u-ledger')?.location, '/dev/nvme0n1p1')
      assert.equal(byId.get('EPHEMERAL')?.location, '/dev/sda6')
      assert.equal(byId.get('/var/lib')?.type, 'directory')
    })

    it('`get kernelparamstatus`: IDs carry the "proc.sys." prefix, config values and machined defaults (kernel_param_*.go)', async () => {
      const r = await as(['-n', CP, 'get', 'kernelparamstatus', '-o', 'yaml'])
      assert.equal(r.code, 0, r.stderr)
      const byId = new Map(docs(r.stdout).map((d) => [d.metadata.id, d.spec]))
      for (const id of byId.keys()) assert.match(id, /^proc\.sys\./)
      assert.deepEqual(byId.get('proc.sys.vm.swappiness'), { current: '7', default: '60', unsupported: false })
      assert.deepEqual(byId.get('proc.sys.kernel.panic'), { current: '10', default: '-1', unsupported: false })
      assert.ok(byId.has('proc.sys.user.max_user_namespaces'), 'KSPP defaults are statuses too')
      const w = await as(['-n', W, 'get', 'kernelparamstatus', 'proc.sys.net.core.rmem_max'])
      assert.equal(w.code, 0, w.stderr)
      assert.match(w.stdout, /134217728\s+212992/)
    })

    it('`get members`: every configured machine, ID its nodename, the config hostname when set', async () => {
      const r = await as(['-n', CP, 'get', 'members', '-o', 'yaml'])
      assert.equal(r.code, 0, r.stderr)
      const byId = new Map(docs(r.stdout).map((d) => [d.metadata.id, d.spec]))
      assert.deepEqual([...byId.keys()].sort(), ['cp1', 'validator-1'])
      assert.equal(byId.get('validator-1').machineType, 'worker')
      assert.deepEqual(byId.get('validator-1').addresses, [W])
      assert.equal(byId.get('cp1').operatingSystem, 'Talos (v1.10.3)')
      // cluster.ControlPlane's YAML field is "port" (resources/cluster/affiliate.go)
      assert.deepEqual(byId.get('cp1').controlPlane, { port: 6443 })
      assert.match(byId.get('cp1').nodeId, /^[0-9A-Za-z]{40,44}$/)
    })

    it("`get extensions`: the Image Factory's schematic extension, after the official one, version the schematic ID", async () => {
      const r = await as(['-n', W, 'get', 'extensions'])
      assert.equal(r.code, 0, r.stderr)
      assert.match(
        r.stdout,
        new RegExp(
          `^${W.replaceAll('.', '\\.')}\\s+runtime\\s+ExtensionStatus\\s+1\\s+1\\s+schematic\\s+${schematic}\\s*$`,
          'm',
        ),
      )
      const y = await as(['-n', W, 'get', 'extensions', '-o', 'yaml'])
      const meta = docs(y.stdout)[0]!.spec.metadata
      assert.equal(meta.author, 'Image Factory')
      assert.match(meta.extraInfo, /siderolabs\/amd-ucode/)
      const cp = await as(['-n', CP, 'get', 'extensions'])
      assert.equal(cp.code, 0, cp.stderr)
      assert.equal(ids(cp.stdout).length, 0, 'the official ghcr.io installer carries no schematic extension')
    })

    it('`get hostname` and `get machinestatus` on a configured machine', async () => {
      const h = await as(['-n', W, 'get', 'hostname', '-o', 'yaml'])
      assert.equal(h.code, 0, h.stderr)
      assert.deepEqual(docs(h.stdout)[0]!.spec, { hostname: 'validator-1', domainname: '' })
      const m = await as(['-n', CP, 'get', 'machinestatus', '-o', 'yaml'])
      assert.equal(m.code, 0, m.stderr)
      assert.equal(docs(m.stdout)[0]!.spec.stage, 'running')
    })
  })
})
