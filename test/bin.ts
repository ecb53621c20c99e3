// The entry points as `npx zx …` and `npx tsx …` run them, without npx's own start: npx is a Node process of its own
// (about 1 s of CPU each, and a CI run starts hundreds) that runs node with .npmrc's `node-options=--import tsx`.
// test/unit/failover-bmc.test.ts and self-contained.test.ts still run `npx zx` verbatim.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../', import.meta.url))
export const NODE = process.execPath
/** `npx tsx FILE …` is `node --import tsx FILE …`. */
export const TSX = ['--import', 'tsx']
/** `npx zx FILE …` is zx's CLI under tsx's loader. */
export const ZX = ['--import', 'tsx', join(REPO, 'node_modules/zx/build/cli.js')]
