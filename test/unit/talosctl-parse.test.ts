import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import {
  formatGoDuration,
  parseBytes,
  parseContainers,
  parseEtcdAlarms,
  parseEtcdMembers,
  parseEtcdStatus,
  parseGetTable,
  parseGoDuration,
  parseHealth,
  parseNodeErrors,
  parseResources,
  parseService,
  parseTable,
  parseTableWithColumns,
  parseVersion,
} from '../../lib/talos/parse.ts'
import { findContainer } from '../../steps/07-smoke-pod/validator-process.ts'

const SAMPLES = new URL('../fixtures/samples/talosctl/', import.meta.url)
const FIXTURES = new URL('../fixtures/talosctl/', import.meta.url)
const sample = (f: string) => readFileSync(new URL(f, SAMPLES), 'utf8')
const fixture = (f: string) => readFileSync(new URL(f, FIXTURES), 'utf8')

test('every shared sample and every fixture is covered by a test below', () => {
  const covered = new Set([
    'etcd-status-1-node.txt',
    'etcd-status-3-nodes.txt',
    'get-disks-insecure.txt',
    'get-disks-multi.txt',
    'get-members-multi-node.txt',
    'get-nodename.txt',
    'service-etcd-preparing.txt',
    'etcd-alarm-list.txt',
    'service-list.txt',
    'service-ext-hello-world.txt',
    'version-api-access.txt',
    'get-discoveredvolumes.txt',
    'get-disk-sda.yaml',
    'get-hostnamespec-default-ns.yaml',
    'get-hostnamespec.yaml',
    'get-hostnamestatus.txt',
    'get-resolvers.txt',
    'get-affiliates-cluster-raw.txt',
    'service-kubelet-multiline-event.txt',
    'service-list-multiline-event.txt',
    'version-multi-node-one-refused.stdout.txt',
    'version-multi-node-one-refused.stderr.txt',
    'version-all-refused.stderr.txt',
    'get-one-refused.stderr.txt',
    'containers-kubernetes.txt',
  ])
  const files = [
    ...readdirSync(SAMPLES).filter((f) => f !== 'README.md'),
    ...readdirSync(FIXTURES).filter((f) => f !== 'SOURCES.md'),
  ]
  assert.deepEqual(
    files.filter((f) => !covered.has(f)),
    [],
  )
  const sources = fixture('SOURCES.md')
  for (const f of readdirSync(FIXTURES).filter((f) => f !== 'SOURCES.md'))
    assert.match(sources, new RegExp(`\\| ${f} \\|`))
})

test('parseBytes reads go-humanize SI and IEC sizes', () => {
  assert.equal(parseBytes('4.5 MB'), 4_500_000)
  assert.equal(parseBytes('21 MB'), 21_000_000)
  assert.equal(parseBytes('69 GB'), 69_000_000_000)
  assert.equal(parseBytes('9 B'), 9)
  assert.equal(parseBytes('1.0 kB'), 1000)
  assert.equal(parseBytes('1.5 GiB'), 1.5 * 2 ** 30)
  assert.throws(() => parseBytes('lots'), /not a byte size: "lots"/)
  assert.throws(() => parseBytes('3 XB'), /unknown byte unit "XB"/)
})

test('Go durations round-trip between talosctl output and flags', () => {
  assert.equal(parseGoDuration('19m27s'), (19 * 60 + 27) * 1000)
  assert.equal(parseGoDuration('1h2m3.5s'), 3_723_500)
  assert.equal(parseGoDuration('250ms'), 250)
  assert.throws(() => parseGoDuration('5 minutes'), /not a Go duration/)
  assert.equal(formatGoDuration(300_000), '5m0s')
  assert.equal(formatGoDuration(3_725_000), '1h2m5s')
  assert.equal(formatGoDuration(1500), '2s')
})

test('etcd status, 3 nodes (etcd-maintenance.md)', () => {
  const rows = parseEtcdStatus(sample('etcd-status-3-nodes.txt'))
  assert.deepEqual(
    rows.map((r) => r.node),
    ['172.20.0.3', '172.20.0.2', '172.20.0.4'],
  )
  assert.deepEqual(
    rows.map((r) => r.memberId),
    ['ecebb05b59a776f1', 'a49c021e76e707db', 'eb47fb33e59bf0e2'],
  )
  const [a, b, c] = rows
  assert.equal(a!.dbSize, 21_000_000)
  assert.equal(a!.dbSizeInUse, 6_000_000)
  assert.equal(a!.inUsePercent, 29.08)
  assert.equal(b!.dbSizeText, '17 MB')
  assert.equal(b!.dbSizeInUse, 4_500_000)
  assert.equal(c!.dbSizeInUse, 5_900_000)
  assert.equal(c!.inUsePercent, 28.96)
  assert.ok(rows.every((r) => r.leader === 'ecebb05b59a776f1' && r.raftIndex === 53391 && r.raftTerm === 4))
  assert.ok(rows.every((r) => r.raftAppliedIndex === 53391 && r.learner === false && r.errors === ''))
  assert.deepEqual(
    rows.map((r) => r.isLeader),
    [true, false, false],
  )
})

test('etcd status, 1 node after defrag', () => {
  const [r, ...rest] = parseEtcdStatus(sample('etcd-status-1-node.txt'))
  assert.equal(rest.length, 0)
  assert.equal(r!.node, '172.20.0.2')
  assert.equal(r!.dbSize, 4_500_000)
  assert.equal(r!.dbSizeInUse, r!.dbSize)
  assert.equal(r!.inUsePercent, 100)
  assert.equal(r!.raftIndex, 56065)
  assert.equal(r!.raftAppliedIndex, 56065)
  assert.equal(r!.isLeader, false)
})

test('etcd status without NODE column and with ERRORS (format of etcd.go)', () => {
  const text = [
    'MEMBER             DB SIZE   IN USE            LEADER             RAFT INDEX   RAFT TERM   RAFT APPLIED INDEX   LEARNER   ERRORS',
    '8ad3b2ebc2ab4b35   2.1 GB    2.1 GB (99.71%)   8ad3b2ebc2ab4b35   912          3           910                  true      etcdserver: mvcc: database space exceeded, alarm:NOSPACE',
    '',
  ].join('\n')
  const [r] = parseEtcdStatus(text)
  assert.equal(r!.node, undefined)
  assert.equal(r!.dbSize, 2_100_000_000)
  assert.equal(r!.learner, true)
  assert.equal(r!.raftAppliedIndex, 910)
  assert.equal(r!.errors, 'etcdserver: mvcc: database space exceeded, alarm:NOSPACE')
})

test('etcd status rejects a table that is not etcd status', () => {
  assert.throws(() => parseEtcdStatus(fixture('service-list.txt')), /etcd status: missing column\(s\) MEMBER/)
})

// Go's text/tabwriter as talosctl configures it (minwidth 0, padding 3, ' '): every tab-terminated cell is padded
// to its column's widest cell + 3; the last cell of a line is not padded.
function tabwrite(rows: string[][]): string {
  const widths: number[] = []
  for (const r of rows) r.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)))
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]! + 3) : c)).join('')).join('\n') + '\n'
}

test('etcd members (columns and "%s\\t%s\\t%s\\t%s\\t%v" of etcd.go; the v1.10 docs show no sample)', () => {
  const text = tabwrite([
    ['NODE', 'ID', 'HOSTNAME', 'PEER URLS', 'CLIENT URLS', 'LEARNER'],
    ['127.0.10.11', '2ac8aa5c1e1f4b07', 'cp1', 'https://127.0.10.11:2380', 'https://127.0.10.11:2379', 'false'],
    ['127.0.10.11', '6c1f0e8c0a4f1d22', 'cp2', 'https://127.0.10.12:2380', 'https://127.0.10.12:2379', 'false'],
    ['127.0.10.11', '9e5b0a4c3d2e1f10', 'cp3', 'https://127.0.10.13:2380', '', 'false'],
    ['127.0.10.11', 'c0ffee0000000001', '', 'https://127.0.10.14:2380,https://[::1]:2380', '', 'true'],
  ])
  const rows = parseEtcdMembers(text)
  assert.equal(rows.length, 4)
  assert.deepEqual(rows[0], {
    node: '127.0.10.11',
    id: '2ac8aa5c1e1f4b07',
    hostname: 'cp1',
    peerUrls: ['https://127.0.10.11:2380'],
    clientUrls: ['https://127.0.10.11:2379'],
    learner: false,
  })
  assert.deepEqual(rows[2]!.clientUrls, [])
  assert.equal(rows[3]!.hostname, '')
  assert.deepEqual(rows[3]!.peerUrls, ['https://127.0.10.14:2380', 'https://[::1]:2380'])
  assert.equal(rows[3]!.learner, true)
})

test('etcd alarm list (etcd-maintenance.md), and no output at all when no alarms', () => {
  assert.deepEqual(parseEtcdAlarms(fixture('etcd-alarm-list.txt')), [
    { node: '172.20.0.2', memberId: 'a49c021e76e707db', alarm: 'NOSPACE' },
  ])
  assert.deepEqual(parseEtcdAlarms(''), [])
})

test('service list (logging.md)', () => {
  const rows = parseService(fixture('service-list.txt'))
  assert.deepEqual(
    rows.map((r) => r.id),
    ['apid', 'containerd', 'cri', 'etcd', 'kubelet', 'machined', 'trustd', 'udevd'],
  )
  assert.ok(rows.every((r) => r.node === '172.20.1.2' && r.state === 'Running'))
  const etcd = rows.find((r) => r.id === 'etcd')!
  assert.equal(etcd.healthy, true)
  assert.equal(etcd.lastChange, '19m22s')
  assert.equal(etcd.lastChangeMs, (19 * 60 + 22) * 1000)
  assert.equal(etcd.lastEvent, 'Health check successful')
  const machined = rows.find((r) => r.id === 'machined')!
  assert.equal(machined.health, '?')
  assert.equal(machined.healthy, undefined)
  assert.equal(machined.lastEvent, 'Service started as goroutine')
})

test('service etcd detail while preparing (disaster-recovery.md)', () => {
  const [s, ...rest] = parseService(sample('service-etcd-preparing.txt'))
  assert.equal(rest.length, 0)
  assert.equal(s!.node, '172.20.0.2')
  assert.equal(s!.id, 'etcd')
  assert.equal(s!.state, 'Preparing')
  assert.equal(s!.health, '?')
  assert.equal(s!.events!.length, 3)
  assert.deepEqual(s!.events![0], { state: 'Preparing', message: 'Running pre state', ago: '17s', agoMs: 17_000 })
  assert.deepEqual(s!.events![2], {
    state: 'Waiting',
    message: 'Waiting for service "cri" to be "up", service "networkd" to be "up", time sync',
    ago: '20s',
    agoMs: 20_000,
  })
  assert.equal(s!.lastEvent, 'Running pre state')
  assert.equal(s!.lastChange, '17s')
})

test('service detail with parentheses in the event message (extension-services.md)', () => {
  const [s] = parseService(fixture('service-ext-hello-world.txt'))
  assert.equal(s!.node, '172.20.0.5')
  assert.equal(s!.id, 'ext-hello-world')
  assert.equal(s!.state, 'Running')
  assert.equal(s!.events!.length, 5)
  assert.equal(s!.events![0]!.message, 'Started task ext-hello-world (PID 1100) for container ext-hello-world')
  assert.equal(s!.events![0]!.ago, '2m47s')
  assert.equal(s!.events![4]!.message, 'Waiting for service "containerd" to be "up", network')
  assert.equal(s!.events![4]!.agoMs, 169_000)
})

test('service detail for several nodes, with a health message', () => {
  const text = [
    'NODE                  127.0.10.11',
    'ID                    etcd',
    'STATE                 Running',
    'HEALTH                Fail',
    'LAST HEALTH MESSAGE   context deadline exceeded',
    'EVENTS                [Running]: Health check failed: context deadline exceeded (4s ago)',
    '                      [Running]: Started task etcd (PID 2140) for container etcd (3m1s ago)',
    'NODE                  127.0.10.12',
    'ID                    etcd',
    'STATE                 Running',
    'HEALTH                OK',
    'EVENTS                [Running]: Health check successful (2m58s ago)',
  ].join('\n')
  const rows = parseService(text)
  assert.deepEqual(
    rows.map((r) => [r.node, r.healthy]),
    [
      ['127.0.10.11', false],
      ['127.0.10.12', true],
    ],
  )
  assert.equal(rows[0]!.lastHealthMessage, 'context deadline exceeded')
  assert.equal(rows[0]!.events![1]!.agoMs, 181_000)
  assert.equal(rows[1]!.lastHealthMessage, undefined)
})

test('version (talos-api-access-from-k8s.md, space-indented)', () => {
  const v = parseVersion(fixture('version-api-access.txt'))
  assert.deepEqual(v.client, {
    tag: '<talos version>',
    sha: '....',
    built: '',
    goVersion: 'go1.18.4',
    os: 'linux',
    arch: 'amd64',
  })
  assert.equal(v.servers.length, 1)
  assert.equal(v.servers[0]!.node, '172.20.0.2')
  assert.equal(v.servers[0]!.sha, '...')
  assert.deepEqual(v.servers[0]!.enabled, ['RBAC'])
})

test('version with several nodes, tab-indented as version.go prints it', () => {
  const text = [
    'Client:',
    '\tTag:         v1.10.3',
    '\tSHA:         dde2cebc',
    '\tBuilt:       ',
    '\tGo version:  go1.24.3',
    '\tOS/Arch:     linux/amd64',
    'Server:',
    '\tNODE:        127.0.10.11',
    '\tTag:         v1.10.3',
    '\tSHA:         dde2cebc',
    '\tBuilt:       ',
    '\tGo version:  go1.24.3',
    '\tOS/Arch:     linux/amd64',
    '\tEnabled:     RBAC',
    '\tNODE:        127.0.10.12',
    '\tTag:         v1.10.2',
    '\tSHA:         1cf5914b',
    '\tBuilt:       ',
    '\tGo version:  go1.24.2',
    '\tOS/Arch:     linux/arm64',
    '\tEnabled:     ',
    '',
  ].join('\n')
  const v = parseVersion(text)
  assert.equal(v.client!.tag, 'v1.10.3')
  assert.deepEqual(
    v.servers.map((s) => [s.node, s.tag, s.arch, s.enabled.length]),
    [
      ['127.0.10.11', 'v1.10.3', 'amd64', 1],
      ['127.0.10.12', 'v1.10.2', 'arm64', 0],
    ],
  )
})

test('get disks, several columns empty and a WWID with inner spaces (disk-management.md)', () => {
  const rows = parseGetTable(sample('get-disks-multi.txt'))
  assert.deepEqual(
    rows.map((r) => r.id),
    ['loop0', 'nvme0n1', 'sda', 'sdb', 'sdc', 'vda'],
  )
  assert.ok(
    rows.every((r) => r.node === '172.20.0.5' && r.namespace === 'runtime' && r.type === 'Disk' && r.version === 1),
  )
  const by = Object.fromEntries(rows.map((r) => [r.id, r.columns]))
  assert.equal(by.loop0!['READ ONLY'], 'true')
  assert.equal(by.loop0!.TRANSPORT, '')
  assert.equal(by.nvme0n1!.WWID, 'nvme.1b36-6465616462656566-51454d55204e564d65204374726c-00000001')
  assert.equal(by.nvme0n1!.MODEL, 'QEMU NVMe Ctrl')
  assert.equal(by.nvme0n1!.SERIAL, 'deadbeef')
  assert.equal(by.nvme0n1!.ROTATIONAL, '')
  assert.equal(by.sda!.ROTATIONAL, 'true')
  assert.equal(by.sda!.WWID, '')
  assert.equal(by.sda!.MODEL, 'QEMU HARDDISK')
  assert.equal(by.sdb!.WWID, 't10.ATA     QEMU HARDDISK                           QM00013')
  assert.equal(by.sdb!.MODEL, 'QEMU HARDDISK')
  assert.equal(by.sdc!.WWID.endsWith('QM00001'), true)
  assert.equal(parseBytes(by.vda!.SIZE!), 13e9)
})

test('get disks --insecure (getting-started.md: no NODE column, a hand-shifted header)', () => {
  const [r, ...rest] = parseTable(sample('get-disks-insecure.txt'))
  assert.equal(rest.length, 0)
  assert.equal(r!.DEV, '/dev/vda')
  assert.equal(r!.TYPE, 'HDD')
  assert.equal(r!.WWID, '-')
  assert.equal(r!.MODALIAS, 'virtio:d00000002v00001AF4')
  assert.equal(r!.NAME, '-')
  assert.equal(r!.SIZE, '69 GB')
  assert.equal(r!.BUS_PATH, '/pci0000:00/0000:00:06.0/virtio2/')
})

test('get members across nodes (discovery.md)', () => {
  const rows = parseGetTable(sample('get-members-multi-node.txt'))
  assert.deepEqual(
    rows.map((r) => [r.node, r.id, r.columns['MACHINE TYPE']]),
    [
      ['10.5.0.2', 'talos-default-controlplane-1', 'controlplane'],
      ['10.5.0.2', 'talos-default-worker-1', 'worker'],
    ],
  )
  assert.equal(rows[0]!.columns.OS, 'Talos (v1.2.3)')
  assert.deepEqual(JSON.parse(rows[1]!.columns.ADDRESSES!), ['10.5.0.3'])
})

test('get nodename (networking-resources.md)', () => {
  assert.deepEqual(parseGetTable(sample('get-nodename.txt')), [
    {
      node: '10.100.2.23',
      namespace: 'controlplane',
      type: 'Nodename',
      id: 'nodename',
      version: 1,
      columns: { NODENAME: 'infra-green-cp-mmf7v' },
    },
  ])
})

test('get discoveredvolumes: a print column named TYPE next to the fixed TYPE', () => {
  const t = parseTableWithColumns(fixture('get-discoveredvolumes.txt'))
  assert.equal(t.columns.filter((c) => c.startsWith('TYPE')).join(','), 'TYPE,TYPE_2')
  const rows = parseGetTable(fixture('get-discoveredvolumes.txt'))
  assert.equal(rows.length, 18)
  const by = Object.fromEntries(rows.map((r) => [r.id, r]))
  assert.equal(by.sdc1!.type, 'DiscoveredVolume')
  assert.equal(by.sdc1!.columns.TYPE, 'partition')
  assert.equal(by['dm-0']!.columns.LABEL, 'STATE')
  assert.equal(by.vda1!.columns.DISCOVERED, 'vfat')
  assert.equal(by.vda1!.columns.LABEL, '')
  assert.equal(by.vda1!.columns.PARTITIONLABEL, 'EFI')
  assert.equal(by.vda2!.columns.DISCOVERED, '')
  assert.equal(by.vda2!.columns.PARTITIONLABEL, 'BIOS')
  assert.equal(by.vda6!.columns.LABEL, 'EPHEMERAL')
  assert.equal(parseBytes(by.sdc!.columns.SIZE!), 2.1e9)
})

test('get hostnamestatus: a value wider than its header column (networking-resources.md)', () => {
  const [r] = parseGetTable(fixture('get-hostnamestatus.txt'))
  assert.equal(r!.columns.HOSTNAME, 'talos-default-controlplane-1')
  assert.equal(r!.columns.DOMAINNAME, '')
})

test('get resolvers (networking-resources.md)', () => {
  const [r] = parseGetTable(fixture('get-resolvers.txt'))
  assert.equal(r!.version, 2)
  assert.deepEqual(JSON.parse(r!.columns.RESOLVERS!), ['8.8.8.8', '1.1.1.1'])
})

test('get affiliates --namespace=cluster-raw (discovery.md, no NODE column)', () => {
  const rows = parseGetTable(fixture('get-affiliates-cluster-raw.txt'))
  assert.equal(rows.length, 8)
  assert.equal(rows[0]!.node, undefined)
  assert.equal(rows[4]!.id, 'service/2VfX3nu67ZtZPl57IdJrU87BMjVWkSBJiL9ulP9TCnF')
  assert.equal(rows[4]!.version, 23)
  assert.equal(rows[7]!.columns.HOSTNAME, 'talos-default-controlplane-3')
  assert.deepEqual(JSON.parse(rows[7]!.columns.ADDRESSES!), ['172.20.0.4', 'fd83:b1f7:fcb5:2802:248f:1fff:fe5c:c3f'])
})

test('get disk sda -o yaml (disk-management.md)', () => {
  const [d, ...rest] = parseResources<{ dev_path: string; size: number; rotational: boolean; symlinks: string[] }>(
    fixture('get-disk-sda.yaml'),
  )
  assert.equal(rest.length, 0)
  assert.equal(d!.node, '172.20.0.5')
  assert.equal(d!.metadata.type, 'Disks.block.talos.dev')
  assert.equal(d!.metadata.id, 'sda')
  assert.equal(d!.metadata.version, 1)
  assert.equal(d!.metadata.created, '2024-08-29T13:06:43Z')
  assert.equal(d!.spec.dev_path, '/dev/sda')
  assert.equal(d!.spec.size, 10485760000)
  assert.equal(d!.spec.rotational, true)
  assert.equal(d!.spec.symlinks.length, 3)
})

test('get hostnamespec -o yaml: several documents and finalizers (networking-resources.md)', () => {
  const specs = parseResources<{ hostname: string; domainname: string; layer: string }>(
    fixture('get-hostnamespec.yaml'),
  )
  assert.deepEqual(
    specs.map((s) => [s.metadata.id, s.spec.hostname, s.spec.layer]),
    [
      ['default/hostname', 'talos-172-20-0-2', 'default'],
      ['dhcp4/eth0/hostname', 'talos-default-controlplane-1', 'operator'],
    ],
  )
  assert.equal(specs[1]!.metadata.owner, 'network.OperatorSpecController')
  const [merged] = parseResources(fixture('get-hostnamespec-default-ns.yaml'))
  assert.deepEqual(merged!.metadata.finalizers, ['network.HostnameSpecController'])
  assert.equal(merged!.metadata.namespace, 'network')
})

test('get -o json: concatenated indented documents as output/json.go writes them', () => {
  // json.go encodes a map (keys sorted: metadata, node, spec) with 4-space indent, one document per resource
  const docs = parseResources(fixture('get-hostnamespec.yaml')).map((r) => ({
    metadata: r.metadata,
    node: r.node,
    spec: r.spec,
  }))
  const tricky = {
    metadata: { namespace: 'runtime', type: 'X', id: 'a}{b', version: '3' },
    node: '127.0.10.11',
    spec: { s: 'quote " and } and {' },
  }
  const text = [...docs, tricky].map((d) => JSON.stringify(d, null, 4) + '\n').join('')
  const parsed = parseResources(text)
  assert.equal(parsed.length, 3)
  assert.equal(parsed[1]!.spec && (parsed[1]!.spec as { hostname: string }).hostname, 'talos-default-controlplane-1')
  assert.equal(parsed[2]!.metadata.id, 'a}{b')
  assert.deepEqual(parsed[2]!.spec, { s: 'quote " and } and {' })
  assert.equal(parsed[2]!.node, '127.0.10.11')
  assert.throws(() => parseResources('{"node": "a", "metadata": {"id": "x"}} oops'), /unexpected "o" at offset/)
  assert.throws(() => parseResources('{"node": "a"}'), /document 1: no metadata.id/)
  assert.deepEqual(parseResources('\n'), [])
})

test('health progress: running, multi-line errors, OK, SKIP (reporter format of pkg/cluster/check)', () => {
  const text = [
    'discovered nodes: ["127.0.10.11" "127.0.10.12" "127.0.10.13" "127.0.10.21"]',
    'waiting for etcd to be healthy: ...',
    'waiting for etcd to be healthy: 1 error occurred:',
    '    * 127.0.10.12: service "etcd" not in expected state "Running": current state [Preparing] Running pre state',
    '',
    'waiting for etcd to be healthy: OK',
    'waiting for etcd members to be consistent across nodes: ...',
    'waiting for etcd members to be consistent across nodes: OK',
    'waiting for kube-proxy to report ready: ...',
    'waiting for kube-proxy to report ready: SKIP',
    'waiting for all k8s nodes to report ready: ...',
    'waiting for all k8s nodes to report ready: some nodes are not ready: [validator1]',
  ].join('\n')
  const h = parseHealth(text)
  assert.deepEqual(h.discoveredNodes, ['127.0.10.11', '127.0.10.12', '127.0.10.13', '127.0.10.21'])
  assert.deepEqual(
    h.checks.map((c) => [c.name, c.status]),
    [
      ['etcd to be healthy', 'ok'],
      ['etcd members to be consistent across nodes', 'ok'],
      ['kube-proxy to report ready', 'skip'],
      ['all k8s nodes to report ready', 'error'],
    ],
  )
  assert.equal(h.checks[3]!.message, 'some nodes are not ready: [validator1]')
  assert.equal(h.ok, false)

  const stuck = parseHealth(
    'waiting for etcd to be healthy: 1 error occurred:\n    * 127.0.10.12: service is not healthy: etcd\ncontext deadline exceeded\n',
  )
  assert.equal(stuck.checks[0]!.message, '1 error occurred:\n* 127.0.10.12: service is not healthy: etcd')
  assert.deepEqual(stuck.errors, ['context deadline exceeded'])

  const coloured = parseHealth(
    '\x1b[33m◳ waiting for apid to be ready: ...\x1b[0m\n\x1b[32mwaiting for apid to be ready: OK\x1b[0m\n',
  )
  assert.deepEqual(coloured.checks, [{ name: 'apid to be ready', status: 'ok', message: 'OK' }])
  assert.equal(coloured.ok, true)
  assert.equal(parseHealth('').ok, false)
})

// Talos prints an event message raw: a multi-line one (a program's error) goes on over lines of its own, and the
// tabwriter aligns what follows anew. The quorum step used to file such a control plane as unreachable.
test('service detail with a multi-line event message (rendered by Talos v1.10.3 formatters)', () => {
  const [a, b, ...rest] = parseService(fixture('service-kubelet-multiline-event.txt'))
  assert.equal(rest.length, 0)
  assert.equal(a!.node, '10.0.0.21')
  assert.equal(a!.state, 'Waiting')
  assert.equal(a!.events!.length, 2)
  assert.equal(
    a!.events![0]!.message,
    'Error running Containerd(kubelet), going to restart forever: task "kubelet" failed: exit code 1\n' +
      'E1205 10:00:00.000000    2361 kubelet.go:1678] "Failed to start ContainerManager"\n' +
      'err="[memorymanager] the expected machine state is different from the real one"',
  )
  assert.equal(a!.events![0]!.ago, '5s')
  assert.deepEqual(a!.events![1], {
    state: 'Running',
    message: 'Service started as goroutine',
    ago: '40s',
    agoMs: 40_000,
  })
  assert.equal(b!.node, '10.0.0.22')
  assert.equal(b!.health, 'OK')
  assert.equal(b!.events!.length, 2)
})

test('service list with a multi-line last event (rendered as talosctl v1.10.3 prints it)', () => {
  const rows = parseService(fixture('service-list-multiline-event.txt'))
  assert.equal(rows.length, 2)
  assert.equal(rows[0]!.state, 'Waiting')
  assert.match(rows[0]!.lastEvent!, /^Error running Containerd\(kubelet\)[^\n]*\nE1205 [^\n]*\nerr="\[memorymanager\]/)
  assert.deepEqual(
    {
      node: rows[1]!.node,
      id: rows[1]!.id,
      state: rows[1]!.state,
      health: rows[1]!.health,
      lastChange: rows[1]!.lastChange,
    },
    { node: '10.0.0.22', id: 'kubelet', state: 'Running', health: 'OK', lastChange: '50s' },
  )
  assert.equal(rows[1]!.lastEvent, 'Health check successful')
})

// Real talosctl v1.10.3 output (`get extensions -o json` against the lab's Talos API): the ID "0" comes out as a number
// because talosctl's JSON writer re-reads the resource's YAML (cmd/talosctl/cmd/talos/output/json.go).
test('get -o json: a numeric-looking resource ID is read as its string', () => {
  const [r] = parseResources<{ metadata: { name: string } }>(
    '{\n    "metadata": {\n        "id": 0,\n        "namespace": "runtime",\n        "type": "ExtensionStatuses.runtime.talos.dev",\n        "version": 1\n    },\n    "node": "127.0.10.11",\n    "spec": {\n        "image": "0.sqsh",\n        "metadata": { "name": "schematic" }\n    }\n}\n',
  )
  assert.equal(r!.metadata.id, '0')
  assert.equal(r!.spec.metadata.name, 'schematic')
})

test('a multi-node version with one node refused: servers from stdout, its error by node from stderr (real talosctl)', () => {
  const v = parseVersion(fixture('version-multi-node-one-refused.stdout.txt'))
  assert.deepEqual(
    v.servers.map((s) => [s.node, s.tag]),
    [
      ['127.0.91.11', 'v1.10.3'],
      ['127.0.91.21', 'v1.10.3'],
    ],
  )
  const e = parseNodeErrors(fixture('version-multi-node-one-refused.stderr.txt'))
  assert.deepEqual(Object.keys(e.byNode), ['127.0.91.99'])
  assert.match(
    e.byNode['127.0.91.99']!,
    /^rpc error: code = Unavailable .*127\.0\.91\.99:50000: connect: connection refused"$/,
  )
  assert.deepEqual(e.other, [])
})

test('per-node errors when no node answered, and as `get` lists them (without the node)', () => {
  const all = parseNodeErrors(fixture('version-all-refused.stderr.txt'))
  assert.deepEqual(Object.keys(all.byNode), ['127.0.91.98', '127.0.91.99'])
  assert.deepEqual(all.other, [])
  const get = parseNodeErrors(fixture('get-one-refused.stderr.txt'))
  assert.deepEqual(get.byNode, {})
  assert.equal(get.other.length, 1)
  assert.match(get.other[0]!, /^rpc error: code = Unavailable .*127\.0\.91\.99:50000/)
  // a complaint that is not a multierror (a missing talosconfig) is kept whole
  assert.deepEqual(parseNodeErrors('failed to open config file "/x": no such file or directory\n'), {
    byNode: {},
    other: ['failed to open config file "/x": no such file or directory'],
  })
})

test('talosctl containers -k: sandboxes and containers (the docs sample), with pod, container and PID', () => {
  const rows = parseContainers(fixture('containers-kubernetes.txt'))
  assert.equal(rows.length, 6)
  assert.deepEqual(rows[0], {
    node: '172.20.0.5',
    namespace: 'k8s.io',
    id: 'kube-system/kube-flannel-6hfck',
    pod: 'kube-system/kube-flannel-6hfck',
    image: 'registry.k8s.io/pause:3.8',
    pid: 1773,
    status: 'SANDBOX_READY',
  })
  const proxy = findContainer(rows, { namespace: 'kube-system', name: 'kube-proxy-xp7jq' }, 'kube-proxy')
  assert.equal(proxy?.pid, 1843)
  assert.equal(proxy?.id, 'kube-system/kube-proxy-xp7jq:kube-proxy:84fc77c59e17')
  // an exited container (PID 0) is not the process to read
  assert.equal(findContainer(rows, { namespace: 'kube-system', name: 'kube-flannel-6hfck' }, 'install-cni'), undefined)
  assert.equal(findContainer(rows, { namespace: 'solana', name: 'kube-proxy-xp7jq' }, 'kube-proxy'), undefined)
})
