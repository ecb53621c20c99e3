// Where a lab talosctl command writes and which environment it sees. Run as its own process (lab/bin/talosctl
// without the daemon) that is process.stdout/stderr/env; inside the per-lab daemon (daemon.ts) many commands run at
// once, each with the output streams and environment of the client that asked, kept apart by AsyncLocalStorage.
import { AsyncLocalStorage } from 'node:async_hooks'

export interface Io {
  out: (s: string | Uint8Array) => void
  err: (s: string) => void
  env: Record<string, string | undefined>
}

const current = new AsyncLocalStorage<Io>()
const processIo: Io = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  env: process.env,
}

const io = () => current.getStore() ?? processIo
export const out = (s: string | Uint8Array) => io().out(s)
export const err = (s: string) => io().err(s)
export const env = (name: string) => io().env[name]

export const withIo = <T>(x: Io, fn: () => Promise<T>): Promise<T> => current.run(x, fn)
