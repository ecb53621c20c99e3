// lab/bin/talosctl's one-shot path: one command in this process.
import { main } from './main.ts'

process.exitCode = await main(process.argv.slice(2))
