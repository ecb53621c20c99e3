// Validate Talos machine-config documents against the official v1.10 JSON schema (config.schema.json as
// published with Talos v1.10.3, shipped in templates/talos-v1.10.3/ with a SOURCE.md). Without it the linter
// would quietly accept v1alpha2, unknown kinds and misspelled keys, so a missing schema is an error, never a skip.
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import type { Ajv2020 as Ajv2020Class, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import type { Document, LineCounter } from 'yaml'
import { formatDotted, parseAllWithPositions, pointerToPath, positionOf, type PathSeg } from './yaml-positions.ts'

export interface SchemaIssue {
  /** index of the document in the multi-document stream */
  doc: number
  /** dotted path, e.g. machine.files[0].mode */
  path: string
  segments: PathSeg[]
  line: number
  column: number
  keyword: string
  message: string
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML documents are walked by path, their shape checked by the schema
type Obj = Record<string, any>

/** The official schema this repo ships (see templates/talos-v1.10.3/SOURCE.md). */
export const TALOS_SCHEMA_PATH = fileURLToPath(
  new URL('../templates/talos-v1.10.3/config.schema.json', import.meta.url),
)

/** The schema the linter uses: $TALOS_CONFIG_SCHEMA when set, else the one shipped with the repo. */
export const defaultSchemaPath = (env = process.env): string => env.TALOS_CONFIG_SCHEMA || TALOS_SCHEMA_PATH

export class SchemaMissingError extends Error {
  constructor(readonly path: string) {
    super(
      `the Talos v1.10.3 config schema is missing: ${path} does not exist. Every config is validated against it; ` +
        `restore it (git checkout -- templates/talos-v1.10.3/config.schema.json) or point TALOS_CONFIG_SCHEMA at a copy ` +
        `(siderolabs/talos pkg/machinery/config/schemas/config.schema.json at tag v1.10.3)`,
    )
    this.name = 'SchemaMissingError'
  }
}

/**
 * Ajv, loaded when a schema is first built: it is ~180 files, a sixth of a runbook's start-up, and most runs of the
 * runbooks and checks validate nothing (ajv is CommonJS, so a synchronous require keeps `load` synchronous).
 */
const ajv2020 = (): typeof Ajv2020Class =>
  (createRequire(import.meta.url)('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020Class }).Ajv2020

export class TalosSchema {
  private readonly ajv: InstanceType<typeof Ajv2020Class>
  private readonly byDef = new Map<string, ValidateFunction>()
  constructor(readonly schema: Obj) {
    const Ajv2020 = ajv2020()
    this.ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false })
    this.ajv.addSchema(schema, 'talos')
  }

  /** Throws SchemaMissingError when the file is not there. */
  static load(path: string | URL): TalosSchema {
    if (!existsSync(path)) throw new SchemaMissingError(path instanceof URL ? fileURLToPath(path) : path)
    return new TalosSchema(JSON.parse(readFileSync(path, 'utf8')))
  }

  private validatorFor(def: string): ValidateFunction {
    let v = this.byDef.get(def)
    if (!v) {
      v = this.ajv.getSchema(`talos#/$defs/${def}`)
      if (!v) throw new Error(`Talos schema has no $defs entry ${def}`)
      this.byDef.set(def, v)
    }
    return v
  }

  /** The $defs entry for a document: v1alpha1.Config for the main one, else the entry whose kind.enum names it. */
  defFor(doc: Obj): string | undefined {
    if (doc.kind === undefined) return 'v1alpha1.Config'
    for (const [name, d] of Object.entries(this.schema.$defs as Record<string, Obj>)) {
      const kinds = d.properties?.kind?.enum as unknown[] | undefined
      if (kinds?.includes(doc.kind)) return name
    }
    return undefined
  }

  /** Validate each document of a parsed stream. Positions point at the offending key. */
  validateDocs(docs: Document.Parsed[], lines: LineCounter): SchemaIssue[] {
    const out: SchemaIssue[] = []
    docs.forEach((d, i) => {
      const value = d.toJS() as unknown
      if (value === null || value === undefined) return
      const at = (segments: PathSeg[], keyword: string, message: string) => {
        const pos = positionOf({ doc: d, lines }, segments)
        out.push({
          doc: i,
          path: formatDotted(segments),
          segments,
          line: pos.line,
          column: pos.column,
          keyword,
          message,
        })
      }
      if (typeof value !== 'object' || Array.isArray(value))
        return at([], 'type', 'a config document must be a mapping')
      const def = this.defFor(value as Obj)
      if (!def)
        return at(['kind'], 'kind', `unknown document kind ${JSON.stringify((value as Obj).kind)} for Talos v1.10`)
      const v = this.validatorFor(def)
      if (v(value)) return
      for (const e of v.errors ?? []) {
        const m = describe(e)
        at(m.segments, e.keyword, m.message)
      }
    })
    return out
  }
}

function describe(e: ErrorObject): { segments: PathSeg[]; message: string } {
  const segments = pointerToPath(e.instancePath)
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty
      return { segments: [...segments, extra], message: `unknown field "${extra}"` }
    }
    case 'type':
      return { segments, message: `must be ${(e.params as { type: string }).type}` }
    case 'enum':
      return {
        segments,
        message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((x) => JSON.stringify(x)).join(', ')}`,
      }
    default:
      return { segments, message: e.message ?? 'is invalid' }
  }
}

const cache = new Map<string, TalosSchema>()

/** Validate multi-document YAML against the official schema at `schemaPath`. Empty list = valid. */
export function validateAgainstTalosSchema(yamlText: string, schemaPath: string | URL): SchemaIssue[] {
  const key = String(schemaPath)
  let s = cache.get(key)
  if (!s) cache.set(key, (s = TalosSchema.load(schemaPath)))
  const { docs, lines } = parseAllWithPositions(yamlText)
  const syntax = docs.flatMap((d, i) =>
    d.errors.map((e) => ({
      doc: i,
      path: '',
      segments: [],
      line: e.linePos?.[0].line ?? 0,
      column: e.linePos?.[0].col ?? 0,
      keyword: 'yaml',
      message: e.message.split('\n')[0],
    })),
  )
  return syntax.length ? syntax : s.validateDocs(docs, lines)
}
