// Sizes as Talos's resources state them: github.com/dustin/go-humanize v1 Bytes (bytes.go humanateBytes, base 1000,
// SI suffixes), used by block.DiskSpec.SetSize and block.VolumeStatusSpec.SetSize (pkg/machinery/resources/block).

/** humanize.Bytes: "9 B", "1.0 MB", "105 MB", "4.0 TB". */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB']
  const e = Math.floor(Math.log(n) / Math.log(1000))
  const val = Math.floor((n / Math.pow(1000, e)) * 10 + 0.5) / 10
  return val < 10 ? `${val.toFixed(1)} ${sizes[e]}` : `${val.toFixed(0)} ${sizes[e]}`
}
