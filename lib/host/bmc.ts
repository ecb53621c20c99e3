// Power control through a node's BMC with the real ipmitool (IPMI v2.0 over LAN, `-I lanplus`): power status, on,
// off, cycle, and the device to boot from next. The password stays in its 0600 file: ipmitool reads it (`-f FILE`),
// so it is never on a command line, in the environment of a printed command, or in a log.
import { statSync } from 'node:fs'
import { CliTool, type CliToolOptions } from './cli-tool.ts'
import type { RunResult } from './exec.ts'

/** How to reach a node's BMC: IPMI v2.0 over LAN (ipmitool -I lanplus). */
export interface BmcSpec {
  type: 'ipmi'
  address: string
  /** UDP port, default 623. */
  port: number
  username: string
  /** A 0600 file holding the password (ipmitool -f): never on a command line, never printed. */
  passwordFile: string
  /** RMCP+ cipher suite (ipmitool -C), default 3 (HMAC-SHA1, AES-128), which every IPMI 2.0 BMC offers. */
  cipherSuite: number
}

type PowerState = 'on' | 'off'
/** ipmitool `chassis bootdev` devices the runbooks use: the network (a PXE rescue system) or the first disk. */
export type BootDevice = 'pxe' | 'disk'

/** `Chassis Power is on|off` (ipmitool lib/ipmi_chassis.c ipmi_chassis_print_power_status). */
export function parsePowerStatus(stdout: string): PowerState {
  const m = /Chassis Power is (on|off)/.exec(stdout)
  if (!m) throw new Error(`unexpected ipmitool power status output: ${JSON.stringify(stdout.trim().slice(0, 200))}`)
  return m[1] as PowerState
}

/** The password file must exist and be readable by its owner only, as ssh demands of a private key. */
export function checkPasswordFile(file: string, node: string): void {
  let mode: number
  try {
    mode = statSync(file).mode
  } catch (e) {
    throw new Error(
      `${node}: BMC password file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message}`,
      { cause: e },
    )
  }
  if (mode & 0o077)
    throw new Error(
      `${node}: BMC password file ${file} is mode ${(mode & 0o777).toString(8).padStart(4, '0')}: make it 0600 (chmod 600 ${file})`,
    )
}

export class Bmc extends CliTool {
  constructor(
    readonly node: string,
    readonly spec: BmcSpec,
    opts: CliToolOptions = {},
  ) {
    super('ipmitool', 'IPMITOOL', opts)
  }

  private where(): string {
    return `${this.node}'s BMC (${this.spec.address}:${this.spec.port})`
  }

  private ipmi(args: string[], mutating: boolean): Promise<RunResult> {
    checkPasswordFile(this.spec.passwordFile, this.node)
    const s = this.spec
    const argv = [
      '-I',
      'lanplus',
      '-C',
      String(s.cipherSuite),
      '-H',
      s.address,
      '-p',
      String(s.port),
      '-U',
      s.username,
      '-f',
      s.passwordFile,
      ...args,
    ]
    return this.call(argv, { mutating }, this.where())
  }

  async powerStatus(): Promise<PowerState> {
    return parsePowerStatus((await this.ipmi(['chassis', 'power', 'status'], false)).stdout)
  }

  async powerOn(): Promise<RunResult> {
    return this.ipmi(['chassis', 'power', 'on'], true)
  }

  /** A hard power off (the machine gets no chance to shut down cleanly: use talosctl shutdown for that). */
  async powerOff(): Promise<RunResult> {
    return this.ipmi(['chassis', 'power', 'off'], true)
  }

  async powerCycle(): Promise<RunResult> {
    return this.ipmi(['chassis', 'power', 'cycle'], true)
  }

  /** Boot from `device` on the next boot only (IPMI boot flags "options apply to next boot only"). */
  async setNextBoot(device: BootDevice): Promise<RunResult> {
    return this.ipmi(['chassis', 'bootdev', device], true)
  }
}
