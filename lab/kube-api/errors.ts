// API errors as metav1.Status, so kubectl prints the real "Error from server (Reason): message".
import type { ResourceDef } from './resources.ts'

export type Obj = Record<string, any>

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Obj,
  ) {
    super(message)
  }
  status(): Obj {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    }
  }
}

/** "nodes" / "certificatesigningrequests.certificates.k8s.io" as the API names a resource in messages. */
export const qualified = (r: ResourceDef) => (r.group ? `${r.plural}.${r.group}` : r.plural)
const details = (r: ResourceDef, name: string) => ({ name, ...(r.group ? { group: r.group } : {}), kind: r.plural })

export const notFound = (r: ResourceDef, name: string) =>
  new ApiError(404, 'NotFound', `${qualified(r)} "${name}" not found`, details(r, name))
export const alreadyExists = (r: ResourceDef, name: string) =>
  new ApiError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, details(r, name))
export const conflict = (r: ResourceDef, name: string) =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details(r, name),
  )
export function invalid(
  r: ResourceDef,
  name: string,
  causes: { field: string; type: string; message: string }[],
): ApiError {
  const text = causes.map((c) => `${c.field}: ${c.type}${c.message ? `: ${c.message}` : ''}`)
  const msg = `${r.kind} "${name}" is invalid: ${text.length === 1 ? text[0] : `[${text.join(', ')}]`}`
  return new ApiError(422, 'Invalid', msg, {
    ...details(r, name),
    kind: r.kind,
    causes: causes.map((c) => ({
      reason: `Field${c.type.replace(/ /g, '')}`,
      message: `${c.type}${c.message ? `: ${c.message}` : ''}`,
      field: c.field,
    })),
  })
}
export const badRequest = (msg: string) => new ApiError(400, 'BadRequest', msg)
export const unavailable = (msg: string) => new ApiError(503, 'ServiceUnavailable', msg)
