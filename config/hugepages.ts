// validator.hugepages: the huge-page pools the validator's kernel reserves at boot, one per page size. Firedancer
// wants both sizes (1 GiB "gigantic" pages for its workspaces, 2 MiB "huge" pages for the rest), so the inventory
// takes one pool or a list of pools; everything past the parser sees the list.
//
//   hugepages: { size: 1Gi, perNumaNode: [16, 16] }             # one pool (the original form)
//   hugepages:                                                  # both sizes
//     - { size: 1Gi, perNumaNode: [16, 16] }
//     - { size: 2Mi, perNumaNode: [1024, 1024] }

export type HugepageSize = '1Gi' | '2Mi'

export interface HugepagePool {
  size: HugepageSize
  /** Pages of this size on NUMA node 0, 1, … */
  perNumaNode: number[]
}

/** validator.hugepages as the inventory may write it. */
export type HugepagesInput = HugepagePool | HugepagePool[]

/** The validator pod's hugepage requests per page size (quantities such as "16Gi"). */
export type PodHugepages = Partial<Record<HugepageSize, string>>

/** validator.pod.hugepages as the inventory may write it: a quantity of the default size, or one per size. */
export type PodHugepagesInput = string | PodHugepages

/** Bytes in one page. */
export const hugepageBytes = (size: HugepageSize) => (size === '1Gi' ? 2 ** 30 : 2 * 2 ** 20)

/** kB in one page: the sysfs directory hugepages-<kB>kB and /proc/meminfo's Hugepagesize. */
export const hugepageKiB = (size: HugepageSize) => hugepageBytes(size) / 1024

/** The kernel's spelling of a size in hugepagesz= / default_hugepagesz= (memparse: "1G", "2M"). */
export const kernelSize = (size: HugepageSize) => (size === '1Gi' ? '1G' : '2M')

/** The pools in one order everywhere: the largest page first (the default size, see defaultPool). */
export function hugepagePools(h: HugepagesInput): HugepagePool[] {
  const list = Array.isArray(h) ? h : [h]
  return [...list].sort((a, b) => hugepageBytes(b.size) - hugepageBytes(a.size))
}

/**
 * The pool of the default huge page size: the 1 GiB one when there is one. default_hugepagesz decides which size
 * /proc/meminfo's HugePages_* lines, hugetlbfs mounts without pagesize= and MAP_HUGETLB without a size flag use.
 */
export const defaultPool = (pools: HugepagePool[]): HugepagePool => pools[0]!

/** Pages of all sizes on each NUMA node, in bytes. */
export function hugepageBytesPerNode(pools: HugepagePool[]): number[] {
  const nodes = Math.max(0, ...pools.map((p) => p.perNumaNode.length))
  return Array.from({ length: nodes }, (_, i) =>
    pools.reduce((a, p) => a + (p.perNumaNode[i] ?? 0) * hugepageBytes(p.size), 0),
  )
}

/** How many NUMA nodes the pools describe (the longest perNumaNode). */
export const hugepageNumaNodes = (pools: HugepagePool[]) => Math.max(0, ...pools.map((p) => p.perNumaNode.length))

/** The `hugepages=` value of a pool in the kernel's node format: "0:16,1:16". */
export const perNodeArg = (perNumaNode: number[] | Record<number, number>) =>
  Object.entries(perNumaNode)
    .map(([i, n]) => `${i}:${n}`)
    .join(',')

/**
 * The kernel arguments that reserve the pools at boot. Documentation/admin-guide/kernel-parameters.txt: "hugepages=
 * [HW] Number of HugeTLB pages to allocate at boot. If this follows hugepagesz (below), it specifies the number of
 * pages of hugepagesz to be allocated. If this is the first HugeTLB parameter on the command line, it specifies the
 * number of pages to allocate for the default huge page size. If using node format, the number of pages to allocate
 * per-node can be specified. Format: <integer> or (node format) <node>:<integer>[,<node>:<integer>]" and
 * "hugepagesz= … Specify the hugepagesz and hugepages parameters in pairs such as: hugepagesz=2M hugepages=512".
 * mm/hugetlb.c hugepages_setup() keeps the count in `parsed_hstate`, the hstate of the last hugepagesz=, so each
 * hugepagesz= here is followed by its own hugepages=. The 1 GiB pool is written first, as the kernel allocates it:
 * gigantic pages come from memblock early in boot (hugepages_setup calls hugetlb_hstate_alloc_pages for a gigantic
 * parsed_hstate; later kernels do it in hugetlb_hstate_alloc_gigantic_pages), before hugetlb_init (a subsys_initcall)
 * allocates the 2 MiB pool. default_hugepagesz names the default pool (the 1 GiB one when present).
 */
export function hugepageKernelArgs(pools: HugepagePool[]): string[] {
  return [
    `default_hugepagesz=${kernelSize(defaultPool(pools).size)}`,
    ...pools.flatMap((p) => [`hugepagesz=${kernelSize(p.size)}`, `hugepages=${perNodeArg(p.perNumaNode)}`]),
  ]
}

/** The pod's requests per size: a bare quantity is of the default size. */
export function podHugepages(pod: PodHugepagesInput, pools: HugepagePool[]): PodHugepages {
  return typeof pod === 'string' ? { [defaultPool(pools).size]: pod } : pod
}

/** Bytes of huge pages as kubelet prints them: "8Gi", "2048Mi" → "2Gi", "256Mi". */
export const hugepageQuantity = (b: number) => (b % 2 ** 30 === 0 ? `${b / 2 ** 30}Gi` : `${b / 2 ** 20}Mi`)

/** The resource kubelet names a size by (corehelper.HugePageResourceName): "hugepages-1Gi". */
export const hugepageResource = (size: HugepageSize) => `hugepages-${size}`
