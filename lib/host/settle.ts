// Parallel work on several nodes where one failure must not cut the others short: wait for every one, then say
// which failed. (Promise.all would reject at the first failure while the rest still run, and the runbook would exit
// with a disk write or an apply-config half done.)
interface Settled<T, R> {
  values: Map<T, R>
  /** The items that failed, each with its error and the error's first line. */
  failures: { item: T; error: unknown; message: string }[]
}

export async function settleEach<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<Settled<T, R>> {
  const results = await Promise.allSettled(items.map(fn))
  const out: Settled<T, R> = { values: new Map(), failures: [] }
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') out.values.set(items[i]!, r.value)
    else out.failures.push({ item: items[i]!, error: r.reason, message: firstLine(r.reason) })
  })
  return out
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).trim().split('\n')[0]!
