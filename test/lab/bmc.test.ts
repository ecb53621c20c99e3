// Each lab machine's BMC is a real IPMI v2.0 BMC simulator (OpenIPMI ipmi_sim) that the product's lib/bmc.ts drives
// with the real ipmitool: power status/off/on/cycle and the next boot device switch the simulated machine, whose
// rescue sshd stops and starts with it. 127.0.95.x, one machine.
import { NODE, ZX } from '../bin.ts'
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Bmc } from '../../lib/host/bmc.ts'
import type { BmcSpec } from '../../lib/host/bmc.ts'
import { portOpen, isAlive } from '../../lab/processes.ts'
import { REPO_ROOT, type LabCluster, type LabNode } from '../../lab/state.ts'
import { pollUntil } from '../../lab/testlab.ts'

const tmp = mkdtempSync(join(tmpdir(), 'lab-bmc-'))
const LAB = join(tmp, 'lab')
const ADDR = '127.0.95.11'
const SSH_PORT = 2295
const BMC_PORT = 6295
const INV = join(tmp, 'lab.yaml')
writeFileSync(
  INV,
  `cluster:
  name: bmc-lab
  target: lab
  endpoint: https://127.0.95.10:6443
  vip: 127.0.95.10
  talosVersion: v1.10.3
  kubernetesVersion: v1.33.1
  installerImage: factory.talos.dev/metal-installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.10.3
  outputDir: ${join(tmp, 'out')}
defaults:
  rescue: { user: root, port: ${SSH_PORT}, keyFile: ${join(LAB, 'ssh/id_ed25519')}, imageUrl: file://${join(LAB, 'images/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/metal-amd64.raw')} }
nodes:
  - name: m1
    address: ${ADDR}
    role: controlplane
    installDisk: /dev/sda
    rescue: { host: ${ADDR}, hostKeyFingerprint: file:${join(LAB, 'ssh/m1/host_key.fingerprint')} }
    bmc: { type: ipmi, address: ${ADDR}, port: ${BMC_PORT}, username: admin, passwordFile: ${join(LAB, 'bmc/password')} }
    lab: { hardware: controlplane }
`,
)
const haveIpmi = existsSync('/usr/bin/ipmi_sim') && existsSync('/usr/bin/ipmitool')

function lab(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'lab/cli.ts'), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, TALOS_LAB_DIR: LAB } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}
const node = () => JSON.parse(readFileSync(join(LAB, 'nodes/m1/node.json'), 'utf8')) as LabNode
const cluster = () => JSON.parse(readFileSync(join(LAB, 'lab.json'), 'utf8')) as LabCluster
const spec: BmcSpec = {
  type: 'ipmi',
  address: ADDR,
  port: BMC_PORT,
  username: 'admin',
  passwordFile: join(LAB, 'bmc/password'),
  cipherSuite: 3,
}

const until = (what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 15_000) => pollUntil(what, ok, timeoutMs)

describe(
  'lab BMC (ipmi_sim) driven by lib/bmc.ts with ipmitool',
  { skip: !haveIpmi && 'ipmi_sim/ipmitool not installed (apt-get install openipmi ipmitool)' },
  () => {
    let bmcPid: number | undefined
    before(async () => {
      const r = await lab(['up', '--inventory', INV])
      assert.equal(r.code, 0, r.stderr + r.stdout)
      bmcPid = cluster().processes.find((p) => p.kind === 'bmc' && p.node === 'm1')?.pid
    })
    after(async () => {
      await lab(['down'])
      if (bmcPid && isAlive(bmcPid)) process.kill(bmcPid, 'SIGKILL')
      rmSync(tmp, { recursive: true, force: true })
    })

    test('lab up starts one ipmi_sim per machine with a bmc block; the password file is 0600', () => {
      assert.ok(bmcPid && isAlive(bmcPid))
      assert.equal(statSync(spec.passwordFile).mode & 0o777, 0o600)
      assert.equal(statSync(join(LAB, 'bmc/m1/lan.conf')).mode & 0o777, 0o600)
    })

    test('power status, off, on: the machine and its rescue sshd follow; the password never appears in a command', async () => {
      const bmc = new Bmc('m1', spec, { quiet: true })
      assert.equal(await bmc.powerStatus(), 'on')
      assert.ok(await portOpen(ADDR, SSH_PORT))
      const off = await bmc.powerOff()
      assert.doesNotMatch(off.command, new RegExp(readFileSync(spec.passwordFile, 'utf8').trim()))
      assert.match(
        off.command,
        /ipmitool -I lanplus -C 3 -H 127\.0\.95\.11 -p 6295 -U admin -f \S+password chassis power off/,
      )
      await until('power off', async () => (await bmc.powerStatus()) === 'off' && !(await portOpen(ADDR, SSH_PORT)))
      assert.equal(node().power, 'off')
      await bmc.powerOn()
      await until('power on', async () => (await bmc.powerStatus()) === 'on' && (await portOpen(ADDR, SSH_PORT)))
      assert.equal(node().stage, 'off', 'a machine with nothing installed comes back in its rescue system')
    })

    test('next boot device and power cycle: the flag is used for one boot', async () => {
      const bmc = new Bmc('m1', spec, { quiet: true })
      await bmc.setNextBoot('pxe')
      assert.equal(readFileSync(join(LAB, 'bmc/m1/bootdev'), 'utf8').trim(), 'pxe')
      await bmc.powerCycle()
      await until('the cycle (off, then on a second later)', async () =>
        readFileSync(join(LAB, 'bmc/m1/power.log'), 'utf8').includes('booting from the network'),
      )
      await until(
        'power on after the cycle',
        async () => (await bmc.powerStatus()) === 'on' && (await portOpen(ADDR, SSH_PORT)),
      )
      assert.equal(readFileSync(join(LAB, 'bmc/m1/bootdev'), 'utf8').trim(), 'default')
    })

    test('01 --bmc-reboot: a machine running Talos is rebooted into its rescue system through its BMC and reinstalled', () => {
      const env = {
        ...process.env,
        TALOS_LAB_DIR: LAB,
        TALOS_RUNBOOKS_STATE_DIR: join(tmp, 'state'),
        CI: 'true',
        NO_COLOR: '1',
      }
      const run01 = (...flags: string[]) =>
        spawnSync(NODE, [...ZX, 'runbooks/01-provision.ts', '--inventory', INV, '--yes', ...flags], {
          cwd: REPO_ROOT,
          env,
          encoding: 'utf8',
          timeout: 180_000,
        })
      const first = run01()
      assert.equal(first.status, 0, first.stdout + first.stderr)
      assert.equal(node().stage, 'maintenance')
      const again = run01('--bmc-reboot')
      const out = again.stdout + again.stderr
      assert.equal(again.status, 0, out)
      assert.match(out, /ipmitool -I lanplus -C 3 -H 127\.0\.95\.11 -p 6295 -U admin -f \S+ chassis bootdev pxe/)
      assert.match(out, /chassis power cycle/)
      assert.match(out, /m1: rescue system up after [\d.]+ s/)
      assert.match(out, /m1: image written and verified/)
      assert.equal(node().stage, 'maintenance')
    })

    test('a wrong password is refused by the BMC; a password file others can read is refused before any call', async () => {
      const wrong = join(tmp, 'wrong')
      writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 })
      await assert.rejects(
        new Bmc('m1', { ...spec, passwordFile: wrong }, { quiet: true }).powerStatus(),
        /m1's BMC \(127\.0\.95\.11:6295\)/,
      )
      chmodSync(wrong, 0o644)
      await assert.rejects(
        new Bmc('m1', { ...spec, passwordFile: wrong }, { quiet: true }).powerStatus(),
        /BMC password file .*wrong is mode 0644: make it 0600/,
      )
    })

    test('lab down stops every BMC it started', async () => {
      const r = await lab(['down'])
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.equal(isAlive(bmcPid), false, `ipmi_sim (pid ${bmcPid}) still running after lab down`)
    })
  },
)
