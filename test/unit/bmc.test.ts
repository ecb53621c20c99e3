// lib/bmc.ts without a BMC: ipmitool's output, the password file rule, and what a dry run prints.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Bmc, checkPasswordFile, parsePowerStatus } from '../../lib/host/bmc.ts'

const tmp = mkdtempSync(join(tmpdir(), 'bmc-unit-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

test('parsePowerStatus reads ipmitool 1.8.19 "Chassis Power is on|off" and rejects anything else', () => {
  assert.equal(parsePowerStatus('Chassis Power is on\n'), 'on')
  assert.equal(parsePowerStatus('Chassis Power is off\n'), 'off')
  assert.throws(
    () => parsePowerStatus('Error: Unable to establish IPMI v2 / RMCP+ session\n'),
    /unexpected ipmitool power status output/,
  )
})

test('the password file must exist and be 0600', () => {
  const f = join(tmp, 'pw')
  assert.throws(() => checkPasswordFile(f, 'cp1'), /cp1: BMC password file .*pw: does not exist/)
  writeFileSync(f, 'x\n', { mode: 0o640 })
  assert.throws(() => checkPasswordFile(f, 'cp1'), /is mode 0640: make it 0600 \(chmod 600 /)
})

test('--dry-run: power on is printed with -f FILE (never the password) and not run', async () => {
  const f = join(tmp, 'pw600')
  writeFileSync(f, 's3cret-pw\n', { mode: 0o600 })
  const bmc = new Bmc(
    'cp1',
    { type: 'ipmi', address: '10.0.0.11', port: 623, username: 'admin', passwordFile: f, cipherSuite: 3 },
    { dryRun: true, quiet: true, bin: '/nonexistent/ipmitool' },
  )
  const r = await bmc.powerOn()
  assert.equal(r.skipped, true)
  assert.equal(r.command, `/nonexistent/ipmitool -I lanplus -C 3 -H 10.0.0.11 -p 623 -U admin -f ${f} chassis power on`)
  assert.doesNotMatch(r.command, /s3cret/)
})
