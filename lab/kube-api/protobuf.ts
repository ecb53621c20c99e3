// kubectl's typed clients (certificate approve/deny, drain's eviction) send bodies as Kubernetes
// protobuf: "k8s\0" + runtime.Unknown{typeMeta=1, raw=2}. The lab reads just the fields it needs.

export type Fields = Map<number, (Buffer | bigint)[]>

function varint(buf: Buffer, pos: number): [bigint, number] {
  let out = 0n
  let shift = 0n
  for (;;) {
    if (pos >= buf.length) throw new Error('protobuf: truncated varint')
    const b = buf[pos++]
    out |= BigInt(b & 0x7f) << shift
    if (!(b & 0x80)) return [out, pos]
    shift += 7n
  }
}

export function decodeFields(buf: Buffer): Fields {
  const out: Fields = new Map()
  let pos = 0
  while (pos < buf.length) {
    const [tag, p1] = varint(buf, pos)
    pos = p1
    const field = Number(tag >> 3n)
    const wire = Number(tag & 7n)
    let val: Buffer | bigint
    if (wire === 0) [val, pos] = varint(buf, pos)
    else if (wire === 2) {
      const [len, p2] = varint(buf, pos)
      val = buf.subarray(p2, p2 + Number(len))
      pos = p2 + Number(len)
    } else if (wire === 1) {
      val = buf.subarray(pos, pos + 8)
      pos += 8
    } else if (wire === 5) {
      val = buf.subarray(pos, pos + 4)
      pos += 4
    } else throw new Error(`protobuf: unsupported wire type ${wire}`)
    if (!out.has(field)) out.set(field, [])
    out.get(field)!.push(val)
  }
  return out
}

export const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00])
export const isK8sProtobuf = (b: Buffer) => b.length >= 4 && b.subarray(0, 4).equals(MAGIC)

const str = (f: Fields, n: number) => {
  const v = f.get(n)?.[0]
  return Buffer.isBuffer(v) ? v.toString() : undefined
}
const msg = (f: Fields, n: number) => {
  const v = f.get(n)?.[0]
  return Buffer.isBuffer(v) ? decodeFields(v) : undefined
}

/** The envelope: apiVersion, kind and the object's own message fields. */
export function unwrap(body: Buffer): { apiVersion?: string; kind?: string; fields: Fields } {
  const env = decodeFields(body.subarray(4))
  const tm = msg(env, 1)
  const raw = env.get(2)?.[0]
  return {
    apiVersion: tm && str(tm, 1),
    kind: tm && str(tm, 2),
    fields: Buffer.isBuffer(raw) ? decodeFields(raw) : new Map(),
  }
}

/** A protobuf map<string, V> field: repeated entries {key = 1, value = 2}. */
function mapField(f: Fields | undefined, n: number, value: (b: Buffer) => string): Record<string, string> | undefined {
  const entries = (f?.get(n) ?? []).filter(Buffer.isBuffer).map((b) => decodeFields(b))
  if (!entries.length) return undefined
  return Object.fromEntries(
    entries.map((e) => {
      const v = e.get(2)?.[0]
      return [str(e, 1) ?? '', Buffer.isBuffer(v) ? value(v) : '']
    }),
  )
}

/**
 * meta/v1 ObjectMeta, the fields a client sets on create (apimachinery pkg/apis/meta/v1/generated.proto: name = 1,
 * generateName = 2, namespace = 3, labels = 11, annotations = 12).
 */
function objectMeta(f: Fields | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, n] of [
    ['name', 1],
    ['generateName', 2],
    ['namespace', 3],
  ] as const) {
    const v = f && str(f, n)
    if (v !== undefined) out[key] = v
  }
  const labels = mapField(f, 11, (b) => b.toString())
  const annotations = mapField(f, 12, (b) => b.toString())
  if (labels) out.labels = labels
  if (annotations) out.annotations = annotations
  return out
}

/**
 * core/v1 ConfigMap, as `kubectl create configmap` sends it (k8s.io/api core/v1 generated.proto: metadata = 1,
 * data = 2 map<string,string>, binaryData = 3 map<string,bytes> (base64 in JSON), immutable = 4).
 */
export function configMapFromProtobuf(f: Fields): Record<string, unknown> {
  const out: Record<string, unknown> = { apiVersion: 'v1', kind: 'ConfigMap', metadata: objectMeta(msg(f, 1)) }
  const data = mapField(f, 2, (b) => b.toString())
  const binaryData = mapField(f, 3, (b) => b.toString('base64'))
  if (data) out.data = data
  if (binaryData) out.binaryData = binaryData
  const immutable = f.get(4)?.[0]
  if (typeof immutable === 'bigint') out.immutable = immutable !== 0n
  return out
}

/** certificates.k8s.io/v1 CertificateSigningRequest → the JSON the approval endpoint needs. */
export function csrFromProtobuf(f: Fields): Record<string, any> {
  const meta = msg(f, 1)
  const status = msg(f, 3)
  const conditions = (status?.get(1) ?? []).filter(Buffer.isBuffer).map((b) => {
    const c = decodeFields(b)
    return { type: str(c, 1), status: str(c, 6) ?? 'True', reason: str(c, 2), message: str(c, 3) }
  })
  return { metadata: { name: meta && str(meta, 1), resourceVersion: meta && str(meta, 6) }, status: { conditions } }
}
