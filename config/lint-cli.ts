// `02-configure.ts --lint PATH...`: lint machine configs written by hand or by other tools. A directory is searched
// recursively for *.yaml / *.yml files (hidden entries skipped); in a directory only files that look like Talos
// machine configs are linted, so linting a rendered out/<cluster>/ skips secrets.yaml and friends (and says so).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { formatFindings, hasErrors, lintMachineConfig, SchemaMissingError, type Finding } from './lint.ts'
import { talosctlFor } from './cluster.ts'
import { Talosctl } from '../lib/talos/talosctl.ts'
import { redactString } from '../lib/runner/redact.ts'

const USAGE = 'usage: npx zx runbooks/02-configure.ts --lint FILE_OR_DIRECTORY... [--grub]'
const YAML_FILE = /\.ya?ml$/

/** Every YAML file below `dir`, sorted, skipping hidden files and directories. */
function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.'))
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const p = join(dir, e.name)
      if (e.isDirectory()) return yamlFilesUnder(p)
      return e.isFile() && YAML_FILE.test(e.name) ? [p] : []
    })
}

/** A Talos machine config has a v1alpha1 document (version: v1alpha1 or machine:) or typed documents (apiVersion: v1alpha1). */
function looksLikeMachineConfig(text: string): boolean {
  try {
    return parseAllDocuments(text).some((d) => {
      const v = 'toJS' in d ? (d.toJS() as Record<string, unknown> | null) : null
      return !!v && typeof v === 'object' && (v.version === 'v1alpha1' || 'machine' in v || v.apiVersion === 'v1alpha1')
    })
  } catch {
    return true // a file the YAML parser chokes on is linted, so its syntax error is reported
  }
}

type Target = { file: string; explicit: boolean }

/**
 * Talos's own validation of one file, when a talosctl is at hand ($TALOSCTL or PATH): a finding for what it refuses.
 * undefined when valid; null when there is no talosctl to ask.
 */
async function talosValidation(talos: Talosctl, file: string): Promise<Finding | undefined | null> {
  let why: string | undefined
  try {
    why = await talos.validate(file)
  } catch {
    return null // no talosctl: the linter's own rules and the schema still ran
  }
  if (why === undefined) return undefined
  return {
    file,
    line: 1,
    column: 1,
    field: '(config)',
    severity: 'error',
    rule: 'talos-validate',
    message: `talosctl validate --mode metal --strict: ${why.split('\n').join('; ')}`,
    fix: 'fix what Talos reports: it refuses this config as it stands',
  }
}

/** Prints findings on stdout; returns the exit code (0 clean, 1 on any lint error, 2 on bad usage, a missing path or a missing schema). */
export async function lintCli(
  args: string[],
  write: (s: string) => void = (s) => process.stdout.write(s + '\n'),
): Promise<number> {
  const out = (s: string) => write(redactString(s))
  const bootloader = args.includes('--grub') ? 'grub' : 'systemd-boot'
  const paths = args.filter((f) => !f.startsWith('--'))
  if (paths.length === 0) {
    out(USAGE)
    return 2
  }
  const targets: Target[] = []
  let usage = false
  for (const p of paths) {
    let isDir: boolean
    try {
      isDir = statSync(p).isDirectory()
    } catch (e) {
      out(
        `${p}: cannot lint: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`,
      )
      usage = true
      continue
    }
    if (!isDir) targets.push({ file: p, explicit: true })
    else {
      const found = yamlFilesUnder(p)
      if (!found.length) {
        out(`${p}: cannot lint: the directory has no .yaml or .yml files`)
        usage = true
      }
      targets.push(...found.map((file) => ({ file, explicit: false })))
    }
  }
  let failed = false
  const talos = new Talosctl({ bin: talosctlFor() })
  let warnedNoTalosctl = false
  for (const { file, explicit } of targets) {
    const text = readFileSync(file, 'utf8')
    if (!explicit && !looksLikeMachineConfig(text)) {
      out(`${file}: skipped (not a Talos machine config)`)
      continue
    }
    let findings
    try {
      findings = lintMachineConfig(text, file, { bootloader })
    } catch (e) {
      if (!(e instanceof SchemaMissingError)) throw e
      process.stderr.write(`error: ${e.message}\n`)
      return 2
    }
    const talosSays = await talosValidation(talos, file)
    if (talosSays) findings.push(talosSays)
    else if (talosSays === null && !warnedNoTalosctl) {
      warnedNoTalosctl = true
      out(
        `note: no talosctl (${talos.bin}): Talos's own validation (talosctl validate --mode metal --strict) was skipped`,
      )
    }
    out(findings.length ? formatFindings(findings) : `${file}: ok`)
    failed ||= hasErrors(findings)
  }
  return usage ? 2 : failed ? 1 : 0
}
