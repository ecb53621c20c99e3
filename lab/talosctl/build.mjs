// Bundles lab/talosctl/entry.ts and daemon.ts (and the lab modules it imports) with esbuild into <repo>/node_modules/.cache/lab-talosctl/ (outside the lab dir, which `lab up` wants empty),
// so lab/bin/talosctl starts with plain node instead of the tsx loader (~0.1 s instead of ~0.5 s).
// import.meta.url is pinned to each module's source path so REPO_ROOT-style path logic keeps working.
// Usage: node lab/talosctl/build.mjs  → prints the directory of the new build.
import { build } from 'esbuild'
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const cache = join(repo, 'node_modules', '.cache', 'lab-talosctl')
mkdirSync(cache, { recursive: true })
const id = `${Date.now()}-${process.pid}`
const out = join(cache, id)

const pinMetaUrl = {
  name: 'pin-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises')
      const src = await readFile(args.path, 'utf8')
      const url = JSON.stringify(pathToFileURL(args.path).href)
      return { contents: src.replaceAll('import.meta.url', url).replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path))), loader: 'ts' }
    })
  },
}

await build({
  entryPoints: { main: join(repo, 'lab/talosctl/entry.ts'), daemon: join(repo, 'lab/talosctl/daemon.ts') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: out,
  outExtension: { '.js': '.mjs' },
  packages: 'external',
  plugins: [pinMetaUrl],
  logLevel: 'error',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
})
// bare imports (yaml, ...) resolve from the repo's node_modules: link it next to the build
const tmp = join(cache, `current.${id}`)
writeFileSync(tmp, relative(cache, out) + '\n')
renameSync(tmp, join(cache, 'current'))
// Older builds go only once no running talosctl can still be loading their lazy chunks.
for (const d of readdirSync(cache)) {
  const builtAt = Number(d.split('-')[0])
  if (d !== id && d !== 'current' && !d.startsWith('current.') && Date.now() - builtAt > 10 * 60_000) {
    try {
      rmSync(join(cache, d), { recursive: true, force: true })
    } catch {}
  }
}
process.stdout.write(out + '\n')
