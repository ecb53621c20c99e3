// Each lab machine's BMC: a real IPMI v2.0 LAN BMC simulator, OpenIPMI's ipmi_sim (Debian `openipmi`), on the
// address and UDP port the inventory's `bmc:` block names, driven by the real ipmitool exactly as a production BMC.
// Its chassis control (power on/off/cycle, boot device) runs lab/bmc/chassis-control, which switches the simulated
// machine (lab/machine-power.ts). ipmi_sim needs a state dir (-s; without one it crashes), a lan.conf (ipmi_lan(5))
// and an emulator command file that adds and enables the BMC's management controller (ipmi_sim_cmd(5): mc_add,
// mc_enable); until then it answers nothing.
//
//   <lab dir>/bmc/password         the BMC password the inventory's passwordFile points at (0600)
//   <lab dir>/bmc/<node>/lan.conf  ipmi_sim config (0600: it holds the password)   bmc.emu  state/  bootdev  *.log
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { forgetProcess, isAlive, spawnDetached, stopPid } from '../processes.ts'
import { REPO_ROOT, labDir, loadCluster, writeFileAtomic } from '../state.ts'

export interface LabBmc {
  node: string
  address: string
  port: number
  username: string
}

export const bmcPaths = {
  password: () => join(labDir(), 'bmc', 'password'),
  dir: (node: string) => join(labDir(), 'bmc', node),
  lanConf: (node: string) => join(labDir(), 'bmc', node, 'lan.conf'),
  emu: (node: string) => join(labDir(), 'bmc', node, 'bmc.emu'),
  state: (node: string) => join(labDir(), 'bmc', node, 'state'),
  log: (node: string) => join(labDir(), 'bmc', node, 'ipmi_sim.log'),
}

const IPMI_SIM = '/usr/bin/ipmi_sim'
const IPMITOOL = '/usr/bin/ipmitool'

/** The lab's BMC password (one for every machine), created once per lab. IPMI 2.0 passwords are at most 20 bytes. */
export function ensureBmcPassword(): string {
  if (!existsSync(bmcPaths.password())) {
    mkdirSync(join(labDir(), 'bmc'), { recursive: true, mode: 0o700 })
    writeFileAtomic(bmcPaths.password(), randomBytes(8).toString('hex') + '\n', 0o600)
  }
  return readFileSync(bmcPaths.password(), 'utf8').trim()
}

/** ipmi_lan(5): one LAN channel on the node's BMC address, one admin user, chassis control by our script. */
export function lanConf(b: LabBmc, password: string): string {
  const control = `${join(REPO_ROOT, 'lab/bmc/chassis-control')} ${labDir()} ${b.node}`
  if (/["\s]/.test(REPO_ROOT + labDir()) || /["\\\s]/.test(b.username + password))
    throw new Error(`BMC of ${b.node}: paths and credentials must not contain quotes or blanks`)
  return [
    `name "${b.node}"`,
    'set_working_mc 0x20',
    '  startlan 1',
    `    addr ${b.address} ${b.port}`,
    '    priv_limit admin',
    // RMCP+ with cipher suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is what ipmitool -C 3 negotiates
    '    allowed_auths_callback md5',
    '    allowed_auths_user md5',
    '    allowed_auths_operator md5',
    '    allowed_auths_admin md5',
    `    guid ${randomBytes(16).toString('hex')}`,
    '  endlan',
    `  chassis_control "${control}"`,
    `  user 2 true "${b.username}" "${password}" admin 10 md5`,
    '',
  ].join('\n')
}

/** ipmi_sim_cmd(5): the BMC's management controller at IPMB 0x20 (chassis device supported: 0x9f has bit 7). */
const EMULATOR = [
  'mc_setbmc 0x20',
  'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02',
  'mc_enable 0x20',
  '',
].join('\n')

export function bmcPid(node: string): number | undefined {
  const p = loadCluster().processes.find((x) => x.kind === 'bmc' && x.node === node)
  return p && isAlive(p.pid) ? p.pid : undefined
}

/** Ask the BMC for its power state with ipmitool, as an operator would; true once it answers. */
function answers(b: LabBmc): boolean {
  try {
    const out = execFileSync(
      IPMITOOL,
      [
        '-I',
        'lanplus',
        '-C',
        '3',
        '-H',
        b.address,
        '-p',
        String(b.port),
        '-U',
        b.username,
        '-f',
        bmcPaths.password(),
        '-N',
        '1',
        '-R',
        '1',
        'chassis',
        'power',
        'status',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    )
    return /Chassis Power is (on|off)/.test(out)
  } catch {
    return false
  }
}

export async function startBmc(b: LabBmc, timeoutMs = 10_000): Promise<number> {
  const running = bmcPid(b.node)
  if (running) return running
  for (const bin of [IPMI_SIM, IPMITOOL])
    if (!existsSync(bin)) throw new Error(`BMC of ${b.node}: ${bin} is missing (apt-get install openipmi ipmitool)`)
  mkdirSync(bmcPaths.state(b.node), { recursive: true, mode: 0o700 })
  writeFileAtomic(bmcPaths.lanConf(b.node), lanConf(b, ensureBmcPassword()), 0o600)
  writeFileAtomic(bmcPaths.emu(b.node), EMULATOR, 0o600)
  const pid = spawnDetached(
    'bmc',
    b.node,
    IPMI_SIM,
    ['-c', bmcPaths.lanConf(b.node), '-f', bmcPaths.emu(b.node), '-s', bmcPaths.state(b.node), '-n'],
    bmcPaths.log(b.node),
  )
  const deadline = Date.now() + timeoutMs
  while (!answers(b)) {
    if (!isAlive(pid) || Date.now() > deadline) {
      await stopPid(pid)
      forgetProcess('bmc', b.node)
      const tail = existsSync(bmcPaths.log(b.node))
        ? readFileSync(bmcPaths.log(b.node), 'utf8').trim().split('\n').slice(-3).join(' | ')
        : ''
      throw new Error(
        `BMC of ${b.node} did not answer ipmitool on ${b.address}:${b.port} (udp)${tail ? `; log: ${tail}` : ''}`,
      )
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return pid
}
