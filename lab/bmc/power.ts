// Run by lab/bmc/chassis-control when a machine's BMC is told to switch power: `power.ts NODE on|off`. Power on boots
// from the BMC's next-boot flag (bmc/<node>/bootdev, set by `ipmitool chassis bootdev`), which applies once.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { powerOffMachine, powerOnMachine } from '../machine-power.ts'
import { labDir } from '../state.ts'

const [node, state] = process.argv.slice(2)
if (!node || (state !== 'on' && state !== 'off')) {
  process.stderr.write('usage: power.ts NODE on|off\n')
  process.exit(2)
}
const bootdevFile = join(labDir(), 'bmc', node, 'bootdev')
const stamp = () => new Date().toISOString()
if (state === 'off') {
  for (const l of await powerOffMachine(node)) process.stdout.write(`${stamp()} ${l}\n`)
} else {
  const flag = existsSync(bootdevFile) ? readFileSync(bootdevFile, 'utf8').trim() : 'default'
  // IPMI boot flags without "persistent" apply to the next boot only (ipmitool chassis bootdev sets exactly that)
  if (flag !== 'default') writeFileSync(bootdevFile, 'default\n')
  for (const l of await powerOnMachine(node, flag === 'pxe' ? 'pxe' : 'disk')) process.stdout.write(`${stamp()} ${l}\n`)
}
