// `02-configure.ts --lint FILE...`: lint machine configs written by hand or by other tools.
import { existsSync, readFileSync } from 'node:fs'
import { formatFindings, hasErrors, lintMachineConfig, SchemaMissingError } from './lint.ts'
import { redactString } from '../lib/runner/redact.ts'

/** Prints findings on stdout; returns the exit code (1 on any error, 2 on bad usage or a missing schema). */
export function lintCli(files: string[], write: (s: string) => void = (s) => process.stdout.write(s + '\n')): number {
  const out = (s: string) => write(redactString(s))
  const bootloader = files.includes('--grub') ? 'grub' : 'systemd-boot'
  files = files.filter((f) => !f.startsWith('--'))
  if (files.length === 0) {
    out('usage: npx zx runbooks/02-configure.ts --lint FILE... [--grub]')
    return 2
  }
  let failed = false
  for (const file of files) {
    if (!existsSync(file)) {
      out(`${file}: no such file`)
      failed = true
      continue
    }
    let findings
    try {
      findings = lintMachineConfig(readFileSync(file, 'utf8'), file, { bootloader })
    } catch (e) {
      if (!(e instanceof SchemaMissingError)) throw e
      process.stderr.write(`error: ${e.message}\n`)
      return 2
    }
    if (findings.length) out(formatFindings(findings))
    else out(`${file}: ok`)
    failed ||= hasErrors(findings)
  }
  return failed ? 1 : 0
}
