// What every command a runbook echoes has in common, said once in its banner (`export TALOSCONFIG=…`), so each
// echoed line carries only what is particular to it (`$ talosctl -n 127.0.10.11 service etcd`) and fits 120
// columns. The echo stays truthful: pasted after the banner's lines, in the same directory, it runs the same
// command. The command that runs is not changed (absolute paths, every flag).
import { existsSync, readFileSync } from 'node:fs'
import { basename, dirname, isAbsolute, relative } from 'node:path'
import { parse } from 'yaml'

export interface SharedShell {
  /** Absolute path of the talosconfig exported as TALOSCONFIG (talosctl reads it when --talosconfig is not given). */
  talosconfig?: string
  /** Absolute path of the kubeconfig exported as KUBECONFIG (kubectl reads it when --kubeconfig is not given). */
  kubeconfig?: string
  /** Directories of binaries given by path, put first on PATH so the echo can call them by name. */
  binDirs: string[]
  /** The directory paths are shown relative to (the runbook's working directory). */
  cwd: string
}

export function sharedShell(o: {
  talosconfig?: string
  kubeconfig?: string
  bins?: string[]
  cwd?: string
}): SharedShell {
  const binDirs = [...new Set((o.bins ?? []).filter((b) => b.includes('/')).map((b) => dirname(b)))]
  return { talosconfig: o.talosconfig, kubeconfig: o.kubeconfig, binDirs, cwd: o.cwd ?? process.cwd() }
}

/** `p` relative to the working directory when it lies below it (shorter, and pasteable from there), else as is. */
export function shownPath(p: string, cwd: string): string {
  if (!isAbsolute(p)) return p
  const rel = relative(cwd, p)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p
}

/** The banner's lines: the exports and PATH every echoed command below them assumes. Paths only, never contents. */
export function shellLines(s: SharedShell): string[] {
  const out: string[] = []
  if (s.talosconfig) out.push(`export TALOSCONFIG=${shownPath(s.talosconfig, s.cwd)}`)
  if (s.kubeconfig) out.push(`export KUBECONFIG=${shownPath(s.kubeconfig, s.cwd)}`)
  if (s.binDirs.length) out.push(`export PATH=${s.binDirs.map((d) => shownPath(d, s.cwd)).join(':')}:$PATH`)
  return out
}

/** The binary as the echo names it: by name when the banner put its directory on PATH (or it is found on PATH). */
export function shownBin(bin: string, s: SharedShell): string {
  if (!bin.includes('/')) return bin
  return s.binDirs.includes(dirname(bin)) ? basename(bin) : shownPath(bin, s.cwd)
}

/** Absolute paths in arguments (`-o /x/y`, `--patch @/x/y`, `--file=/x/y`) relative to the working directory. */
export function shownArg(arg: string, s: SharedShell): string {
  const m = /^(--?[\w-]+=|@)?(\/.*)$/.exec(arg)
  return m ? (m[1] ?? '') + shownPath(m[2]!, s.cwd) : arg
}

/**
 * The endpoints of the current context of a talosconfig: what talosctl dials when no `-e` is given. Only this field
 * is read; undefined when the file is missing or unreadable (then the echo keeps its `-e`).
 */
export function talosconfigEndpoints(file: string): string[] | undefined {
  try {
    if (!existsSync(file)) return undefined
    const cfg = parse(readFileSync(file, 'utf8')) as {
      context?: string
      contexts?: Record<string, { endpoints?: string[] }>
    }
    const eps = cfg?.context ? cfg.contexts?.[cfg.context]?.endpoints : undefined
    return Array.isArray(eps) ? eps.map(String) : undefined
  } catch {
    return undefined
  }
}
