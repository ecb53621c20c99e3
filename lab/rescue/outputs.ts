// What the simulated rescue system prints, in the formats of the real tools on a Debian 12 rescue system
// (coreutils 9.1, util-linux 2.38). Pure formatting, unit-tested.
import type { LabDisk } from '../state.ts'

export const RESCUE_KERNEL = {
  release: '6.12.38+deb12-amd64',
  version: '#1 SMP PREEMPT_DYNAMIC Debian 6.12.38-1~bpo12+1 (2025-07-21)',
  machine: 'x86_64',
}
export const RESCUE_HOSTNAME = 'rescue'
/** /proc/cmdline of the rescue system (what a node's cmdline is before Talos is installed). */
export const RESCUE_CMDLINE = `BOOT_IMAGE=/vmlinuz-${RESCUE_KERNEL.release} root=/dev/ram0 ro rescue=1 console=tty0 console=ttyS0,115200n8 nomodeset`

export const OS_RELEASE = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`

export function unameOutput(flags: string[]): string {
  const k = RESCUE_KERNEL
  const all = flags.includes('a')
  const parts: string[] = []
  if (all || flags.length === 0 || flags.includes('s')) parts.push('Linux')
  if (all || flags.includes('n')) parts.push(RESCUE_HOSTNAME)
  if (all || flags.includes('r')) parts.push(k.release)
  if (all || flags.includes('v')) parts.push(k.version)
  if (all || flags.includes('m')) parts.push(k.machine)
  if (flags.includes('p')) parts.push('unknown')
  if (flags.includes('i')) parts.push('unknown')
  if (all || flags.includes('o')) parts.push('GNU/Linux')
  return parts.join(' ') + '\n'
}

const devName = (dev: string) => dev.replace(/^\/dev\//, '')

/** A size the way lsblk prints it without -b: 1024-based, one decimal, suffix B/K/M/G/T. */
export function lsblkHumanSize(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P']
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  const s =
    i === 0
      ? String(v)
      : Number.isInteger(Math.round(v * 10) / 10)
        ? String(Math.round(v * 10) / 10)
        : (Math.round(v * 10) / 10).toFixed(1)
  return `${s}${units[i]}`
}

function cell(d: LabDisk, col: string, bytes: boolean): string | number | null {
  switch (col) {
    case 'NAME':
      return devName(d.dev)
    case 'SIZE':
      return bytes ? d.sizeBytes : lsblkHumanSize(d.sizeBytes)
    case 'MODEL':
      return d.model || null
    case 'SERIAL':
      return d.serial || null
    case 'TYPE':
      return 'disk'
  }
  return null
}

/** `lsblk -J`: util-linux 2.38 layout (3-space indent, devices joined with `},{`). */
export function lsblkJson(disks: LabDisk[], columns: string[], bytes: boolean): string {
  const devs = disks.map((d) => {
    const fields = columns.map(
      (c) => `         ${JSON.stringify(c.toLowerCase())}: ${JSON.stringify(cell(d, c, bytes))}`,
    )
    return `{\n${fields.join(',\n')}\n      }`
  })
  return `{\n   "blockdevices": [\n${devs.length ? '      ' + devs.join(',') + '\n' : ''}   ]\n}\n`
}

export function lsblkTable(disks: LabDisk[], columns: string[], bytes: boolean): string {
  const rows = [columns, ...disks.map((d) => columns.map((c) => String(cell(d, c, bytes) ?? '')))]
  const widths = columns.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const numeric = columns.map((c) => c === 'SIZE')
  return rows
    .map(
      (r) =>
        r
          .map((v, i) => (i === r.length - 1 ? v : numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
          .join(' ')
          .trimEnd() + '\n',
    )
    .join('')
}

function si(n: number): string {
  const units = ['kB', 'MB', 'GB', 'TB']
  let v = n / 1000
  let i = 0
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000
    i++
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`
}
function iec(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`
}

/** dd's final statistics on stderr (GNU coreutils 9.1 format). Reads from a pipe count partial records. */
export function ddStats(bytes: number, blockSize: number, seconds: number): string {
  const full = Math.floor(bytes / blockSize)
  const partial = bytes % blockSize ? 1 : 0
  const secs = Math.max(seconds, 1e-6)
  const size = bytes < 1000 ? `${bytes} bytes` : `${bytes} bytes (${si(bytes)}, ${iec(bytes)})`
  const rate = bytes / secs
  const rateText = rate < 1000 ? `${rate.toFixed(1)} B/s` : `${si(rate)}/s`
  return `${full}+${partial} records in\n${full}+${partial} records out\n${size} copied, ${secs.toPrecision(3)} s, ${rateText}\n`
}

export const sha256sumLine = (hex: string, name: string) => `${hex}  ${name}\n`
