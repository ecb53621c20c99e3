// What every lab talosctl command receives. Its own file so the command modules, which main.ts loads lazily, do
// not import main.ts back (an import cycle the dependency rule forbids).
import type { GlobalArgs } from './common.ts'

export type Flags = Record<string, any>
export interface RunContext {
  args: string[]
  flags: Flags
  global: GlobalArgs
  path: string
}
