// The steps of 04-join: workers register, their kubelet-serving CSRs are approved only when they are
// what the inventory says they should be, and the validator node proves it got the validator config.
import { execFileSync } from 'node:child_process'
import { log } from '../lib/runner/log.ts'
import { isReady, nodeRoles, waitFor, type KubeCsr, type KubeNode } from '../lib/kube/kubectl.ts'
import type { Cluster } from '../config/cluster.ts'
import type { InventoryNode } from '../config/inventory.ts'
import { hugepageBytes, hugepageQuantity, hugepageResource, type HugepagePool } from '../config/hugepages.ts'
import { quantityValue } from '../lib/kube/quantity.ts'

interface CsrSpec {
  request: string
  signerName: string
  username: string
  groups?: string[]
  usages?: string[]
}

interface CsrDecision {
  name: string
  node?: string
  approve: boolean
  reason: string
}

/** SANs of a PEM CSR, as `openssl req -text` prints them ("DNS:a, IP Address:1.2.3.4"). */
export function parseCsrSans(opensslText: string): string[] {
  const m = /X509v3 Subject Alternative Name:\s*(?:critical)?\s*\n\s*(.+)/.exec(opensslText)
  if (!m) return []
  return m[1]!.split(',').map((s) =>
    s
      .trim()
      .replace(/^DNS:/, '')
      .replace(/^IP Address:/, ''),
  )
}

function csrSans(requestB64: string): string[] {
  const pem = Buffer.from(requestB64, 'base64').toString()
  return parseCsrSans(execFileSync('openssl', ['req', '-noout', '-text'], { input: pem }).toString())
}

/**
 * Approve only a pending kubelet-serving CSR whose requester and every SAN belong to one of `nodes`; `scope` says what
 * those nodes are in a refusal ("no inventory node", or 12's "not cp2, the node being replaced").
 */
export function decideCsr(
  csr: KubeCsr,
  nodes: InventoryNode[],
  sans: (req: string) => string[] = csrSans,
  scope = 'no inventory node',
): CsrDecision {
  const spec = (csr as unknown as { spec: CsrSpec }).spec
  const name = csr.metadata.name
  if (spec.signerName !== 'kubernetes.io/kubelet-serving')
    return { name, approve: false, reason: `signer ${spec.signerName} is not kubelet-serving` }
  const node = nodes.find((n) => spec.username === `system:node:${n.name}`)
  if (!node) return { name, approve: false, reason: `requester ${spec.username} is ${scope}` }
  const allowed = new Set([node.name, node.address])
  const bad = sans(spec.request).filter((s) => !allowed.has(s))
  if (bad.length)
    return { name, node: node.name, approve: false, reason: `SANs ${bad.join(', ')} do not belong to ${node.name}` }
  return {
    name,
    node: node.name,
    approve: true,
    reason: `requested by ${spec.username} for ${node.name}/${node.address}`,
  }
}

export async function waitRegistered(c: Cluster, nodes: InventoryNode[], timeoutMs = 5 * 60_000): Promise<KubeNode[]> {
  return Promise.all(
    nodes.map((n) =>
      waitFor(`${n.name} to register as a Kubernetes node`, () => c.kube.node(n.name), { timeoutMs, intervalMs: 1000 }),
    ),
  )
}

export async function approveCsrs(
  c: Pick<Cluster, 'kube'>,
  nodes: InventoryNode[],
  scope?: string,
): Promise<CsrDecision[]> {
  const pending = (await c.kube.csrs()).filter(
    (csr) => !(csr as { status?: { conditions?: unknown[] } }).status?.conditions?.length,
  )
  const decisions = pending.map((csr) => decideCsr(csr, nodes, undefined, scope))
  for (const d of decisions) {
    if (d.approve) await c.kube.approveCsr(d.name)
    else log.warn(`not approving ${d.name}: ${d.reason}`)
  }
  return decisions
}

export async function waitReady(c: Cluster, nodes: InventoryNode[], timeoutMs = 5 * 60_000): Promise<KubeNode[]> {
  return Promise.all(
    nodes.map((n) =>
      waitFor(
        `${n.name} to be Ready`,
        async () => {
          const k = await c.kube.node(n.name)
          return k && isReady(k) ? k : undefined
        },
        { timeoutMs, intervalMs: 1000 },
      ),
    ),
  )
}

export function describeNode(k: KubeNode): string {
  const info = (k as unknown as { status?: { nodeInfo?: { kubeletVersion?: string } } }).status?.nodeInfo
  return `${k.metadata.name}: Ready, kubelet ${info?.kubeletVersion ?? '?'}, roles ${nodeRoles(k).join(',') || '<none>'}`
}

/** The validator must advertise every pool's pages before anything is scheduled on it. */
export function validatorProblems(k: KubeNode, pools: HugepagePool[]): string[] {
  const alloc = (k as unknown as { status?: { allocatable?: Record<string, string> } }).status?.allocatable ?? {}
  return pools.flatMap((p) => {
    const res = hugepageResource(p.size)
    const got = alloc[res] ?? '0'
    const want = hugepageQuantity(p.perNumaNode.reduce((a, b) => a + b, 0) * hugepageBytes(p.size))
    return quantityValue(got) === quantityValue(want)
      ? []
      : [`allocatable ${res} is ${got}, the inventory asks for ${want}`]
  })
}
