// Talos's own validation of what the product renders: every machine config of the lab and the production example,
// made from a secrets bundle of the real `talosctl gen secrets`, passes `talosctl validate --mode metal --strict`
// (the real talosctl v1.10.3); and the linter asks the same talosctl when there is one.
import { NODE, ZX } from '../bin.ts'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { realTalosctl } from '../../lab/go-builds.ts'
import { loadInventory } from '../../config/inventory.ts'
import { renderMachineConfigs } from '../../config/render.ts'
import { parseSecretsBundle } from '../../lib/talos/secrets-bundle.ts'
import { REPO_ROOT } from '../../config/cluster.ts'

const talosctl = realTalosctl()
const run = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', env, cwd: REPO_ROOT })

test('every rendered config passes talosctl validate --mode metal --strict', () => {
  const dir = mkdtempSync(join(tmpdir(), 'talos-validate-'))
  try {
    const secretsFile = join(dir, 'secrets.yaml')
    assert.equal(run([talosctl, 'gen', 'secrets', '-o', secretsFile]).status, 0)
    const secrets = parseSecretsBundle(readFileSync(secretsFile, 'utf8'), secretsFile)
    let checked = 0
    for (const inventory of ['inventory/lab.yaml', 'inventory/example.yaml']) {
      const configs = renderMachineConfigs(loadInventory(join(REPO_ROOT, inventory)), secrets)
      assert.ok(configs.size >= 4, `${inventory}: ${configs.size} configs`)
      for (const [node, text] of configs) {
        const file = join(dir, `${node}.yaml`)
        writeFileSync(file, text, { mode: 0o600 })
        const r = run([talosctl, 'validate', '--config', file, '--mode', 'metal', '--strict'])
        assert.equal(r.status, 0, `${inventory} ${node}: ${r.stderr}${r.stdout}`)
        checked++
      }
    }
    assert.ok(checked >= 9)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('02 --lint reports what talosctl validate refuses, and says when there is no talosctl', () => {
  const seed = 'test/fixtures/talos/seed-example-worker.yaml'
  const withTalos = run([NODE, ...ZX, 'runbooks/02-configure.ts', '--lint', seed], {
    ...process.env,
    TALOSCTL: talosctl,
  })
  assert.equal(withTalos.status, 1)
  assert.match(
    withTalos.stdout,
    /error\[talos-validate\]: \(config\): talosctl validate --mode metal --strict: .*cannot unmarshal !!str `tcp_bbr` into v1alpha1\.KernelModuleConfig/,
  )
  const without = run([NODE, ...ZX, 'runbooks/02-configure.ts', '--lint', seed], {
    ...process.env,
    TALOSCTL: '/nonexistent/talosctl',
  })
  assert.equal(without.status, 1) // the linter's own rules still find the seed's mistakes
  assert.doesNotMatch(without.stdout, /talos-validate/)
  assert.match(without.stdout, /note: no talosctl \(\/nonexistent\/talosctl\): Talos's own validation .* was skipped/)
})
