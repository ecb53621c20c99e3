import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { CommandError } from '../../lib/host/exec.ts'
import { setLogSink } from '../../lib/runner/log.ts'
import { Kube, isCsrPending, isReady, nodeRoles, waitFor, type KubeNode } from '../../lib/kube/kubectl.ts'

// A stand-in kubectl: records argv (args split by \x1f, calls by \x1e) and stdin, prints $DIR/out, $DIR/err, exits $DIR/exit.
const FAKE = `#!/bin/sh
d="$FAKE_KUBECTL_DIR"
printf '%s\\037' "$@" >> "$d/argv"; printf '\\036' >> "$d/argv"
case " $* " in *" -f - "*) cat > "$d/stdin";; esac
[ -f "$d/out" ] && cat "$d/out"
[ -f "$d/err" ] && cat "$d/err" >&2
[ -f "$d/exit" ] && exit "$(cat "$d/exit")"
exit 0
`

let root: string
let fake: string
let dir: string
let restoreSink: ReturnType<typeof setLogSink>
let logLines: string[] = []

before(() => {
  root = mkdtempSync(join(tmpdir(), 'kube-test-'))
  fake = join(root, 'kubectl')
  writeFileSync(fake, FAKE)
  chmodSync(fake, 0o755)
  restoreSink = setLogSink((l) => logLines.push(l))
})
after(() => {
  setLogSink(restoreSink)
  rmSync(root, { recursive: true, force: true })
})

function setup(opts: { dryRun?: boolean } = {}) {
  dir = mkdtempSync(join(root, 'case-'))
  logLines = []
  return new Kube({ bin: fake, kubeconfig: join(root, 'kubeconfig'), env: { FAKE_KUBECTL_DIR: dir }, ...opts })
}
const calls = (): string[][] =>
  existsSync(join(dir, 'argv'))
    ? readFileSync(join(dir, 'argv'), 'utf8')
        .split('\x1e')
        .slice(0, -1)
        .map((c) => c.split('\x1f').slice(0, -1))
    : []
const lastArgs = () => calls().at(-1)!.slice(2) // after --kubeconfig F
const give = (name: string, content: string) => writeFileSync(join(dir, name), content)

const cp1: KubeNode = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'cp1', labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/hostname': 'cp1' } },
  spec: { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] },
  status: {
    conditions: [
      { type: 'MemoryPressure', status: 'False' },
      { type: 'Ready', status: 'True', reason: 'KubeletReady' },
    ],
  },
}
const validator1: KubeNode = {
  metadata: { name: 'validator1', labels: { 'node-role.kubernetes.io/validator': '', 'kubernetes.io/role': 'worker' } },
  status: { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }] },
}

test('bin defaults to $KUBECTL, then kubectl; --kubeconfig and --context come first', () => {
  const saved = process.env.KUBECTL
  try {
    process.env.KUBECTL = '/usr/bin/kubectl'
    assert.equal(new Kube().bin, '/usr/bin/kubectl')
    delete process.env.KUBECTL
    assert.equal(new Kube().bin, 'kubectl')
  } finally {
    if (saved === undefined) delete process.env.KUBECTL
    else process.env.KUBECTL = saved
  }
  assert.deepEqual(new Kube({ kubeconfig: 'out/kc', context: 'admin@solana-lab' }).buildArgs(['get', 'nodes']), [
    '--kubeconfig',
    'out/kc',
    '--context',
    'admin@solana-lab',
    'get',
    'nodes',
  ])
})

test('nodes(): get nodes -o json, items parsed', async () => {
  const k = setup()
  give('out', JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [cp1, validator1] }))
  const nodes = await k.nodes()
  assert.deepEqual(calls()[0], ['--kubeconfig', join(root, 'kubeconfig'), 'get', 'nodes', '-o', 'json'])
  assert.deepEqual(
    nodes.map((n) => [n.metadata.name, isReady(n), nodeRoles(n)]),
    [
      ['cp1', true, ['control-plane']],
      ['validator1', false, ['validator', 'worker']],
    ],
  )
})

test('node(name): the object, undefined when NotFound, CommandError otherwise', async () => {
  const k = setup()
  give('out', JSON.stringify(cp1))
  assert.equal((await k.node('cp1'))!.metadata.name, 'cp1')
  assert.deepEqual(lastArgs(), ['get', 'node', 'cp1', '-o', 'json'])
  rmSync(join(dir, 'out'))
  give('err', 'Error from server (NotFound): nodes "worker9" not found\n')
  give('exit', '1')
  assert.equal(await k.node('worker9'), undefined)
  give('err', 'The connection to the server 127.0.10.10:6443 was refused - did you specify the right host or port?\n')
  await assert.rejects(
    k.node('cp1'),
    (e: unknown) =>
      e instanceof CommandError &&
      /failed \(exit 1\) on node cp1: The connection to the server 127\.0\.10\.10:6443 was refused/.test(e.message),
  )
})

test('pods(): one namespace or all; csrs(); non-JSON output names the command', async () => {
  const k = setup()
  give(
    'out',
    JSON.stringify({
      items: [
        {
          metadata: { name: 'agave-0', namespace: 'solana' },
          spec: { nodeName: 'validator1' },
          status: { phase: 'Running' },
        },
      ],
    }),
  )
  const pods = await k.pods('solana')
  assert.deepEqual(lastArgs(), ['get', 'pods', '-n', 'solana', '-o', 'json'])
  assert.equal(pods[0]!.spec!.nodeName, 'validator1')
  await k.pods()
  assert.deepEqual(lastArgs(), ['get', 'pods', '-A', '-o', 'json'])
  give(
    'out',
    JSON.stringify({
      items: [
        { metadata: { name: 'csr-a' }, spec: { signerName: 'kubernetes.io/kubelet-serving' }, status: {} },
        { metadata: { name: 'csr-b' }, status: { conditions: [{ type: 'Approved', status: 'True' }] } },
      ],
    }),
  )
  const csrs = await k.csrs()
  assert.deepEqual(lastArgs(), ['get', 'csr', '-o', 'json'])
  assert.deepEqual(
    csrs.map((c) => [c.metadata.name, isCsrPending(c)]),
    [
      ['csr-a', true],
      ['csr-b', false],
    ],
  )
  give('out', 'No resources found\n')
  await assert.rejects(k.csrs(), /kubectl .*get csr -o json: output is not JSON/)
})

test('mutations: approve, label, taint, delete build kubectl args', async () => {
  const k = setup()
  await k.approveCsr('csr-a')
  assert.deepEqual(lastArgs(), ['certificate', 'approve', 'csr-a'])
  await k.label('validator1', {
    'solana.io/role': 'validator',
    'node.kubernetes.io/exclude-from-external-load-balancers': null,
  })
  assert.deepEqual(lastArgs(), [
    'label',
    'node',
    'validator1',
    'solana.io/role=validator',
    'node.kubernetes.io/exclude-from-external-load-balancers-',
    '--overwrite',
  ])
  await k.taint('validator1', { key: 'solana.io/validator', value: 'true', effect: 'NoSchedule' })
  assert.deepEqual(lastArgs(), ['taint', 'node', 'validator1', 'solana.io/validator=true:NoSchedule', '--overwrite'])
  await k.taint('validator1', { key: 'solana.io/validator', effect: 'NoSchedule' }, { remove: true })
  assert.deepEqual(lastArgs(), ['taint', 'node', 'validator1', 'solana.io/validator:NoSchedule-'])
  await k.delete('pod', 'agave-0', 'solana')
  assert.deepEqual(lastArgs(), ['delete', 'pod', 'agave-0', '-n', 'solana', '--ignore-not-found'])
  assert.throws(() => k.label('cp1', {}), /label node cp1: no labels given/)
})

test('apply sends YAML on stdin (objects become --- separated documents)', async () => {
  const k = setup()
  const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'solana' } }
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cfg', namespace: 'solana' },
    data: { 'a.txt': 'x: "y"\n' },
  }
  await k.apply([ns, cm], { serverSide: true, fieldManager: 'runbooks' })
  assert.deepEqual(lastArgs(), ['apply', '-f', '-', '--server-side', '--field-manager', 'runbooks'])
  const docs = parseAllDocuments(readFileSync(join(dir, 'stdin'), 'utf8')).map((d) => d.toJS())
  assert.deepEqual(docs, [ns, cm])
  assert.ok(!logLines.join('\n').includes('ConfigMap'), 'stdin is never printed')
  await k.apply('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n')
  assert.equal(readFileSync(join(dir, 'stdin'), 'utf8'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n')
})

test('dry-run skips mutations but still reads', async () => {
  const k = setup({ dryRun: true })
  give('out', JSON.stringify({ items: [cp1] }))
  const skipped = [
    await k.approveCsr('x'),
    await k.label('cp1', { a: 'b' }),
    await k.taint('cp1', 'k=v:NoExecute'),
    await k.apply({ metadata: { name: 'n' }, kind: 'Namespace' }),
    await k.delete('ns', 'n'),
  ]
  assert.ok(skipped.every((r) => r.skipped))
  assert.equal(calls().length, 0)
  assert.equal(logLines.filter((l) => l.includes('(dry-run) ')).length, 5)
  assert.equal((await k.nodes()).length, 1)
  assert.equal(calls().length, 1)
})

test('waitFor returns the first defined value and treats probe errors as not yet', async () => {
  let n = 0
  const v = await waitFor(
    'node validator1 Ready',
    async () => {
      n++
      if (n === 1) throw new Error('connection refused')
      return n >= 3 ? `ready after ${n}` : undefined
    },
    { timeoutMs: 5000, intervalMs: 5 },
  )
  assert.equal(v, 'ready after 3')
  assert.equal(n, 3)
})

test('waitFor times out naming what it waited for and the last error', async () => {
  // each attempt fails differently, so the message shows which one it kept (how many attempts fit in 50 ms depends
  // on the host's load: one, on a busy CI machine)
  let n = 0
  const err = await new Kube()
    .waitFor(
      'csr for validator1',
      async () => {
        throw new Error(`Unauthorized (attempt ${++n})`)
      },
      { timeoutMs: 50, intervalMs: 10 },
    )
    .then(
      () => undefined,
      (e: Error) => e,
    )
  assert.ok(err)
  assert.equal(
    err.message,
    `timed out after 50 ms waiting for csr for validator1; last error: Unauthorized (attempt ${n})`,
  )
})

test('isReady and nodeRoles on edge cases', () => {
  assert.equal(isReady({ metadata: { name: 'x' } }), false)
  assert.equal(
    isReady({ metadata: { name: 'x' }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }),
    false,
  )
  assert.deepEqual(nodeRoles({ metadata: { name: 'x', labels: { 'kubernetes.io/hostname': 'x' } } }), [])
})
