// Lint a Talos v1.10 machine config (multi-document YAML): the official JSON schema (always; a missing schema
// file throws SchemaMissingError), plus the rules in config/lint-rules.ts for mistakes the schema cannot see. Findings carry file:line:col of
// the offending key so an editor can jump to it:
//   worker.yaml:17:5: warning[sysctl-not-string]: machine.sysctls.vm.max_map_count: ... (fix: quote it: ...)
import { fileURLToPath } from 'node:url'
import { defaultSchemaPath, TalosSchema, TALOS_SCHEMA_PATH } from './talos-schema.ts'
import { RULES, toFinding, type Finding, type LintOptions, type RuleContext } from './lint-rules.ts'
import { aliasBombAt, ALIAS_BOMB, errorPosition, parseAllWithPositions } from './yaml-positions.ts'
import { describeYamlError, keyOnLine, syntaxErrorsWorthReporting, yamlSyntaxFix } from './inventory.ts'

export type { Finding, LintOptions, Rule, Severity } from './lint-rules.ts'
export { RULES } from './lint-rules.ts'

/** The official schema shipped with the repo (templates/talos-v1.10.3/); used when no path is given. */
export const DEFAULT_SCHEMA_PATH = TALOS_SCHEMA_PATH
export { SchemaMissingError } from './talos-schema.ts'

const schemas = new Map<string, TalosSchema>()
function schemaFor(path: string | URL | undefined): TalosSchema {
  const p = path ? (path instanceof URL ? fileURLToPath(path) : path) : defaultSchemaPath()
  let s = schemas.get(p)
  if (!s) schemas.set(p, (s = TalosSchema.load(p)))
  return s
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML documents are walked by path, their shape checked by the schema
type Obj = Record<string, any>

export function lintMachineConfig(yamlText: string, file: string, opts: LintOptions = {}): Finding[] {
  // loaded first: a missing schema fails the whole lint instead of reporting only the rules' half
  const schema = schemaFor(opts.schemaPath)
  const { docs, lines } = parseAllWithPositions(yamlText)
  const syntax = syntaxErrorsWorthReporting(docs.flatMap((d) => d.errors))
  if (syntax.length)
    return syntax.map((e) => {
      const pos = errorPosition(lines, e, yamlText)
      const fix = yamlSyntaxFix(e.code, keyOnLine(yamlText, pos.line)) ?? 'fix the YAML syntax'
      return {
        file,
        line: pos.line,
        column: pos.column,
        field: '',
        severity: 'error',
        rule: 'yaml-syntax',
        message: describeYamlError(e, yamlText, pos.line),
        fix,
      }
    })
  const bomb = aliasBombAt(docs, lines)
  if (bomb)
    return [
      {
        file,
        ...bomb,
        field: '',
        severity: 'error',
        rule: 'yaml-syntax',
        message: ALIAS_BOMB.message,
        fix: ALIAS_BOMB.fix,
      },
    ]

  const findings: Finding[] = []
  const mainIndex = docs.findIndex((d) => {
    const v = d.toJS() as Obj | null
    return !!v && typeof v === 'object' && v.kind === undefined && ('machine' in v || v.version === 'v1alpha1')
  })
  if (mainIndex < 0) {
    findings.push({
      file,
      line: 1,
      column: 1,
      field: '',
      severity: 'error',
      rule: 'no-v1alpha1-document',
      message: 'no v1alpha1 machine config document (version: v1alpha1 with machine:)',
      fix: 'start from talosctl gen config or the rendered templates',
    })
  } else {
    const doc = docs[mainIndex]
    const ctx: RuleContext = { file, config: (doc.toJS() as Obj) ?? {}, doc, lines, opts }
    for (const rule of RULES) for (const hit of rule.check(ctx)) findings.push(toFinding(ctx, rule, hit))
  }

  // Schema findings on fields a rule already explains would only repeat it with less help.
  const explained = new Set(findings.map((f) => f.field))
  for (const i of schema.validateDocs(docs, lines)) {
    if (explained.has(i.path)) continue
    findings.push({
      file,
      line: i.line,
      column: i.column,
      field: i.path,
      severity: 'error',
      rule: 'schema',
      message: i.message,
      fix:
        i.keyword === 'additionalProperties'
          ? 'remove the field or fix its spelling (see the Talos v1.10 configuration reference)'
          : 'see the Talos v1.10 configuration reference',
    })
  }
  return findings.sort((a, b) => a.line - b.line || a.column - b.column || a.rule.localeCompare(b.rule))
}

/** `file:line:col: error[rule]: field: message (fix: ...)`, one per line. */
export function formatFindings(findings: Finding[]): string {
  return findings
    .map(
      (f) =>
        `${f.file}:${f.line}:${f.column}: ${f.severity}[${f.rule}]: ${f.field ? `${f.field}: ` : ''}${f.message}${f.fix ? ` (fix: ${f.fix})` : ''}`,
    )
    .join('\n')
}

export const hasErrors = (findings: Finding[]) => findings.some((f) => f.severity === 'error')
