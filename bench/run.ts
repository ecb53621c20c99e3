// `npm run bench`: start-up of a runbook, rendering + schema validation at scale, and (unless --no-lab) the lab
// benchmarks of bench/lab-bench.ts; several runs each, median/min/max against the target, written to
// bench/results.json. Speeds are measured here, never asserted in tests.
import { spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'
import { formatColumns } from '../lib/runner/columns.ts'
import { parseInventory } from '../config/inventory.ts'
import { renderMachineConfigs } from '../config/render.ts'
import { TalosSchema, TALOS_SCHEMA_PATH } from '../config/talos-schema.ts'
import { parseAllWithPositions } from '../config/yaml-positions.ts'
import { generateCa } from '../lab/pki.ts'
import { parseSecretsBundle } from '../lib/talos/secrets-bundle.ts'
import { missedBy, round, summarize } from './stats.ts'
import { checkBenchmarks, labBenchmarks, type Row } from './lab-bench.ts'

const REPO = fileURLToPath(new URL('..', import.meta.url))

const checksOnly = process.argv.includes('--checks-only')
const rows: Row[] = []
const add = (r: Row) => rows.push(r)
async function bench(name: string, runs: number, fn: () => unknown, targetMs?: number, note?: string) {
  const ms: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    await fn()
    ms.push(performance.now() - t)
  }
  const s = summarize(ms)
  add({ name, unit: 'ms', runs, median: round(s.median), min: round(s.min), max: round(s.max), target: targetMs, note })
}

/** A lab-shaped production inventory with n nodes (3 control planes, the validator, the rest workers). */
function bigInventory(n: number): string {
  const inv = parse(readFileSync(`${REPO}/inventory/example.yaml`, 'utf8')) as { nodes: Record<string, unknown>[] }
  const worker = inv.nodes.find((x) => x.role === 'worker' && !x.profile)!
  for (let i = inv.nodes.length; i < n; i++) {
    const address = `10.30.${Math.floor(i / 250)}.${(i % 250) + 1}`
    const rescue = worker.rescue ? { ...(worker.rescue as object), host: address } : undefined
    inv.nodes.push({ ...worker, name: `worker-${i}`, address, ...(rescue ? { rescue } : {}) })
  }
  return stringify(inv, { aliasDuplicateObjects: false })
}

function secretsFixture(): string {
  const ca = (k: 'ecdsa' | 'ed25519') => {
    const c = generateCa('bench', k)
    return { crt: Buffer.from(c.crt).toString('base64'), key: Buffer.from(c.key).toString('base64') }
  }
  return stringify({
    cluster: { id: Buffer.alloc(32, 1).toString('base64'), secret: Buffer.alloc(32, 2).toString('base64') },
    secrets: {
      bootstraptoken: 'abcdef.0123456789abcdef',
      secretboxencryptionsecret: Buffer.alloc(32, 3).toString('base64'),
    },
    trustdinfo: { token: 'abcdef.0123456789abcdef' },
    certs: {
      etcd: ca('ecdsa'),
      k8s: ca('ecdsa'),
      k8saggregator: ca('ecdsa'),
      k8sserviceaccount: { key: ca('ecdsa').key },
      os: ca('ed25519'),
    },
  })
}

if (!checksOnly)
  await bench(
    'runbook start-up: npx zx runbooks/06-verify.ts --help',
    5,
    () => spawnSync('npx', ['zx', 'runbooks/06-verify.ts', '--help'], { cwd: REPO, stdio: 'ignore' }),
    600,
  )

const text = bigInventory(500)
const secrets = parseSecretsBundle(secretsFixture())
const schema = TalosSchema.load(TALOS_SCHEMA_PATH)
if (!checksOnly)
  await bench(
    '500-node inventory: parse + render + schema-validate every config',
    3,
    () => {
      const inv = parseInventory(text, 'bench-500.yaml')
      for (const yaml of renderMachineConfigs(inv, secrets).values()) {
        const { docs, lines } = parseAllWithPositions(yaml)
        if (schema.validateDocs(docs, lines).length) throw new Error('a rendered config failed the schema')
      }
    },
    1000,
  )

const runs = Number(process.env.BENCH_RUNS ?? 3)
if (checksOnly) await checkBenchmarks(add, { runs })
else if (!process.argv.includes('--no-lab')) await labBenchmarks(add, { runs })

const cells = rows.map((r) => {
  const u = (n: number) => `${n} ${r.unit}`
  const verdict = r.target === undefined ? '' : missedBy(r.median, r.target, r.unit) || 'met'
  return [r.name, u(r.median), u(r.min), u(r.max), r.target === undefined ? '' : u(r.target), verdict]
})
console.log(
  formatColumns(['BENCHMARK', 'MEDIAN', 'MIN', 'MAX', 'TARGET', 'VERDICT'], cells, { width: Infinity }).join('\n'),
)
writeFileSync(
  `${REPO}/bench/${checksOnly ? 'results-checks.json' : 'results.json'}`,
  JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: availableParallelism(), rows }, null, 2) +
    '\n',
)
