// Lint a Talos v1.10 machine config (multi-document YAML): the official JSON schema when it is available,
// plus the rules in lib/lint-rules.ts for mistakes the schema cannot see. Findings carry file:line:col of
// the offending key so an editor can jump to it:
//   worker.yaml:17:5: warning[sysctl-not-string]: machine.sysctls.vm.max_map_count: ... (fix: quote it: ...)
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { TalosSchema } from './talos-schema.ts'
import { RULES, toFinding, type Finding, type LintOptions, type Rule, type RuleContext } from './lint-rules.ts'
import { errorPosition, parseAllWithPositions } from './yaml-positions.ts'
import { describeYamlError, syntaxErrorsWorthReporting } from './inventory.ts'

export type { Finding, LintOptions, Rule, Severity } from './lint-rules.ts'
export { RULES } from './lint-rules.ts'

/** Where the shared checkout keeps the official schema next to this repo; used when no path is given. */
export const DEFAULT_SCHEMA_PATH = fileURLToPath(new URL('../../shared/talos/config.schema.json', import.meta.url))

const schemas = new Map<string, TalosSchema>()
function schemaFor(path: string | URL | undefined): TalosSchema | undefined {
  const p = path ? (path instanceof URL ? fileURLToPath(path) : path) : process.env.TALOS_CONFIG_SCHEMA || DEFAULT_SCHEMA_PATH
  if (!existsSync(p)) return undefined
  let s = schemas.get(p)
  if (!s) schemas.set(p, (s = TalosSchema.load(p)))
  return s
}

type Obj = Record<string, any>

export function lintMachineConfig(yamlText: string, file: string, opts: LintOptions = {}): Finding[] {
  const { docs, lines } = parseAllWithPositions(yamlText)
  const syntax = syntaxErrorsWorthReporting(docs.flatMap((d) => d.errors))
  if (syntax.length)
    return syntax.map((e) => {
      const pos = errorPosition(lines, e, yamlText)
      return { file, line: pos.line, column: pos.column, field: '', severity: 'error', rule: 'yaml-syntax', message: describeYamlError(e, yamlText, pos.line), fix: 'fix the YAML syntax' }
    })

  const findings: Finding[] = []
  const mainIndex = docs.findIndex((d) => {
    const v = d.toJS() as Obj | null
    return !!v && typeof v === 'object' && v.kind === undefined && ('machine' in v || v.version === 'v1alpha1')
  })
  if (mainIndex < 0) {
    findings.push({ file, line: 1, column: 1, field: '', severity: 'error', rule: 'no-v1alpha1-document', message: 'no v1alpha1 machine config document (version: v1alpha1 with machine:)', fix: 'start from talosctl gen config or the rendered templates' })
  } else {
    const doc = docs[mainIndex]
    const ctx: RuleContext = { file, config: (doc.toJS() as Obj) ?? {}, doc, lines, opts }
    for (const rule of RULES) for (const hit of rule.check(ctx)) findings.push(toFinding(ctx, rule, hit))
  }

  // Schema findings on fields a rule already explains would only repeat it with less help.
  const schema = schemaFor(opts.schemaPath)
  if (schema) {
    const explained = new Set(findings.map((f) => f.field))
    for (const i of schema.validateDocs(docs, lines)) {
      if (explained.has(i.path)) continue
      findings.push({ file, line: i.line, column: i.column, field: i.path, severity: 'error', rule: 'schema', message: i.message, fix: i.keyword === 'additionalProperties' ? 'remove the field or fix its spelling (see the Talos v1.10 configuration reference)' : 'see the Talos v1.10 configuration reference' })
    }
  }
  return findings.sort((a, b) => a.line - b.line || a.column - b.column || a.rule.localeCompare(b.rule))
}

/** `file:line:col: error[rule]: field: message (fix: ...)`, one per line. */
export function formatFindings(findings: Finding[]): string {
  return findings.map((f) => `${f.file}:${f.line}:${f.column}: ${f.severity}[${f.rule}]: ${f.field ? `${f.field}: ` : ''}${f.message}${f.fix ? ` (fix: ${f.fix})` : ''}`).join('\n')
}

export const hasErrors = (findings: Finding[]) => findings.some((f) => f.severity === 'error')

/** A rule by id (for docs and tests). */
export const ruleById = (id: string): Rule | undefined => RULES.find((r) => r.id === id)
