// Command-line flags every runbook shares, plus the runbook's own, parsed strictly with node:util parseArgs:
// a typo in a flag must stop the runbook before it touches a machine, never be silently ignored.
import { parseArgs } from 'node:util'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseGoDuration } from '../talos/parse.ts'

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const DEFAULT_INVENTORY = 'inventory/lab.yaml'
export const DEFAULT_CALL_TIMEOUT = '30s'

export interface FlagSpec {
  type: 'string' | 'boolean'
  description: string
  /** One letter: `-n`. */
  short?: string
  default?: string | boolean
  /** Shown in --help after the flag: `--node NAME`. */
  valueName?: string
}
export type FlagSpecs = Record<string, FlagSpec>

/** `max-wait` → `maxWait`: flags are kebab-case on the command line, camelCase in code. */
type CamelCase<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S

type FlagValue<S extends FlagSpec> = S['type'] extends 'boolean'
  ? boolean
  : S extends { default: string }
    ? string
    : string | undefined

interface CommonFlags {
  /** Path to the inventory (default inventory/lab.yaml, relative to the repo). */
  inventory: string
  yes: boolean
  dryRun: boolean
  /** `--step NAME` / `--only NAME`, repeatable: run exactly these steps. Empty: no restriction. */
  step: string[]
  from?: string
  list: boolean
  help: boolean
  /** Only settable in runbooks that declare `json: true`. */
  json: boolean
  /** `--call-timeout`: how long any one talosctl/kubectl call may take. */
  callTimeoutMs: number
}

export type ParsedFlags<F extends FlagSpecs = FlagSpecs> = CommonFlags & {
  [K in keyof F & string as CamelCase<K>]: FlagValue<F[K]>
}

/** A command-line mistake: nothing has run; exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

function commonFlagSpecs(opts: { json?: boolean } = {}): FlagSpecs {
  const specs: FlagSpecs = {
    inventory: { type: 'string', valueName: 'FILE', default: DEFAULT_INVENTORY, description: 'cluster inventory' },
    yes: { type: 'boolean', short: 'y', description: 'answer yes to every confirmation (needed when not interactive)' },
    'dry-run': { type: 'boolean', description: 'print what would change; run checks and read-only commands only' },
    step: { type: 'string', valueName: 'NAME', description: 'run only this step (repeatable; alias --only)' },
    only: { type: 'string', valueName: 'NAME', description: 'same as --step' },
    from: { type: 'string', valueName: 'NAME', description: 'start at this step (overrides resuming)' },
    list: { type: 'boolean', description: 'list the steps and their last outcome, run nothing' },
    'call-timeout': {
      type: 'string',
      valueName: 'DURATION',
      default: DEFAULT_CALL_TIMEOUT,
      description: 'give up on any one talosctl/kubectl call after this long (e.g. 10s, 2m)',
    },
    help: { type: 'boolean', short: 'h', description: 'show this help' },
  }
  if (opts.json)
    specs.json = { type: 'boolean', description: 'print one JSON document with every step outcome on stdout' }
  return specs
}

const camel = (s: string) => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())

// Flags a runbook may not redefine: they mean the same thing in every runbook.
const RESERVED = new Set([
  'inventory',
  'yes',
  'dry-run',
  'step',
  'only',
  'from',
  'list',
  'help',
  'json',
  'call-timeout',
])

/**
 * The arguments meant for the runbook script. `npx zx runbooks/03.ts --yes` gives
 * process.argv = [node, .../node_modules/.bin/zx, (zx's own flags...), runbooks/03.ts, --yes];
 * `node --import tsx runbooks/03.ts --yes` gives [node, runbooks/03.ts, --yes].
 */
export function scriptArgs(argv: readonly string[] = process.argv, scriptPath?: string): string[] {
  // an entry point may pass its import.meta.url
  if (scriptPath?.startsWith('file:')) scriptPath = fileURLToPath(scriptPath)
  const isScript = (a: string) => /\.(?:[cm]?ts|[cm]?js)$/.test(a) && !a.startsWith('-')
  const zxCli = (a: string) => /(?:^|[/\\])zx(?:\.[cm]?js)?$/.test(a) || /[/\\]zx[/\\]build[/\\]cli\.[cm]?js$/.test(a)
  if (scriptPath) {
    const want = resolve(scriptPath)
    const i = argv.findIndex((a, idx) => idx >= 1 && isScript(a) && resolve(a) === want)
    if (i >= 0) return argv.slice(i + 1)
  }
  if (argv[1] !== undefined && !zxCli(argv[1]) && isScript(argv[1])) return argv.slice(2)
  const i = argv.findIndex((a, idx) => idx >= 2 && isScript(a))
  return i >= 0 ? argv.slice(i + 1) : argv.slice(2)
}

function flagOf(message: string): string | undefined {
  // "Unknown option '--foo'", "Option '-y, --yes' does not take an argument", "Option '--node <value>' argument missing"
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? ''
  return /--[\w-]+/.exec(quoted)?.[0] ?? /-\w/.exec(quoted)?.[0]
}

/** Parse `args` against the common flags and the runbook's own; throws UsageError on anything unexpected. */
export function parseFlags<F extends FlagSpecs>(
  runbookId: string,
  own: F,
  args: readonly string[],
  opts: { json?: boolean } = {},
): ParsedFlags<F> {
  for (const name of Object.keys(own)) {
    if (RESERVED.has(name)) throw new Error(`runbook ${runbookId} redefines the common flag --${name}`)
  }
  const specs: FlagSpecs = { ...commonFlagSpecs(opts), ...own }
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {}
  for (const [name, s] of Object.entries(specs)) {
    options[name] = {
      type: s.type,
      ...(s.short ? { short: s.short } : {}),
      ...(name === 'step' || name === 'only' ? { multiple: true } : {}),
    }
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] }
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: false })
  } catch (e) {
    const err = e as Error & { code?: string }
    const flag = flagOf(err.message)
    switch (err.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`unknown flag ${flag ?? err.message} for ${runbookId}; see --help`)
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
        const spec = flag
          ? (specs[flag.replace(/^-+/, '')] ?? Object.values(specs).find((s) => `-${s.short}` === flag))
          : undefined
        if (spec?.type === 'boolean') throw new UsageError(`flag ${flag} for ${runbookId} takes no value; see --help`)
        throw new UsageError(`flag ${flag ?? '?'} for ${runbookId} needs a value; see --help`)
      }
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
        throw new UsageError(
          `unexpected argument ${JSON.stringify(/'([^']*)'/.exec(err.message)?.[1] ?? '')} for ${runbookId}: every input is a --flag; see --help`,
        )
      default:
        throw new UsageError(`${err.message} (${runbookId}; see --help)`)
    }
  }
  const v = parsed.values
  const out: Record<string, unknown> = {}
  for (const [name, s] of Object.entries(specs)) {
    if (name === 'step' || name === 'only') continue
    const value = v[name] ?? s.default ?? (s.type === 'boolean' ? false : undefined)
    if (s.type === 'string' && value === '')
      throw new UsageError(`flag --${name} for ${runbookId} needs a value; see --help`)
    out[camel(name)] = value
  }
  if (v.inventory === undefined) out.inventory = join(REPO_ROOT, DEFAULT_INVENTORY)
  out.callTimeoutMs = parseCallTimeout(out.callTimeout as string, runbookId)
  delete out.callTimeout
  out.step = [...((v.step as string[] | undefined) ?? []), ...((v.only as string[] | undefined) ?? [])]
  if (!opts.json) out.json = false
  return out as ParsedFlags<F>
}

/** A Go duration flag ("5m", "90s") → ms; a usage error (exit 2) naming the flag otherwise. */
export function durationFlag(flag: string, text: string): number {
  let ms = NaN
  try {
    ms = parseGoDuration(text)
  } catch {}
  if (!(ms > 0))
    throw new UsageError(`flag --${flag}: ${JSON.stringify(text)} is not a duration (write e.g. 90s, 5m, 1m30s)`)
  return ms
}

/** A Go-style duration ("10s", "1m30s", "500ms") → ms; anything else is a usage error naming the flag. */
export function parseCallTimeout(text: string, runbookId: string): number {
  let ms = NaN
  try {
    ms = parseGoDuration(text)
  } catch {}
  if (!(ms >= 100 && ms <= 3_600_000))
    throw new UsageError(
      `flag --call-timeout for ${runbookId}: ${JSON.stringify(text)} is not a duration between 100ms and 60m (write e.g. 10s, 2m, 1m30s)`,
    )
  return ms
}

interface HelpInput {
  id: string
  title: string
  /** The script as the operator runs it, for the usage line. */
  script?: string
  flags: FlagSpecs
  json?: boolean
  steps: { name: string; describe: string; destructive?: boolean }[]
}

export function formatHelp(h: HelpInput): string {
  const script = h.script ? h.script : `runbooks/${h.id}.ts`
  const lines = [`${h.id}: ${h.title}`, '', `usage: npx zx ${script} [flags]`, '']
  const row = (name: string, s: FlagSpec) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.type === 'string' ? ` ${s.valueName ?? 'VALUE'}` : ''}`
    const def = s.default !== undefined && s.default !== false ? ` (default: ${s.default})` : ''
    return `  ${left.padEnd(26)} ${s.description}${def}`
  }
  const own = Object.entries(h.flags)
  if (own.length) {
    lines.push(`${h.id} flags:`)
    for (const [name, s] of own) lines.push(row(name, s))
    lines.push('')
  }
  lines.push('common flags:')
  for (const [name, s] of Object.entries(commonFlagSpecs({ json: h.json }))) lines.push(row(name, s))
  lines.push('', 'steps:')
  const width = Math.max(...h.steps.map((s) => s.name.length), 4)
  h.steps.forEach((s, i) => {
    const mark = s.destructive ? ' [destructive: asks for confirmation]' : ''
    lines.push(`  ${String(i + 1).padStart(2)}. ${s.name.padEnd(width)}  ${s.describe}${mark}`.trimEnd())
  })
  lines.push(
    '',
    'A run that fails or is interrupted is resumed at the failed step by the next run (see --list);',
    'each step first checks whether its work is already done and skips it if so.',
    'exit codes: 0 done, 1 a step failed or was declined, 2 bad flags, 3 refused (unsafe to go on, or needs --yes), 130 interrupted',
  )
  return lines.join('\n') + '\n'
}
