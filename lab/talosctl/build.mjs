// Bundles lab/talosctl/entry.ts and daemon.ts (and the lab modules it imports) with esbuild into <repo>/node_modules/.cache/lab-talosctl/ (outside the lab dir, which `lab up` wants empty),
// so lab/bin/talosctl starts with plain node instead of the tsx loader (~0.1 s instead of ~0.5 s).
// import.meta.url is pinned to each module's source path so REPO_ROOT-style path logic keeps working: a bundle is
// therefore valid only for the checkout it was built from. node_modules can be shared by several checkouts (a symlink)
// or moved with one (`mv`), so the cache is keyed on both:
//   <cache>/b-<hash>/                  a build; <hash> covers the checkout's path, esbuild's version, this file and
//                                      every bundled source's content (same checkout, same sources: same build, reused)
//   <cache>/checkouts/<repo>/current   this checkout's stamp: the name of its build. Its mtime is when this build
//                                      started reading the sources: current-build.sh and the daemon rebuild when a
//                                      lab/ or lib/ *.ts changed (ctime) after it.
// Usage: node lab/talosctl/build.mjs  → prints the directory of the build (new or reused).
import { build, version as esbuildVersion } from 'esbuild'
import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const cache = join(repo, 'node_modules', '.cache', 'lab-talosctl')
const checkouts = join(cache, 'checkouts')
// the same path as STAMP in lab/talosctl/current-build.sh and lab/bin/talosctl, and stampPath in daemon.ts
const stamp = join(checkouts, repo, 'current')
// current-build.sh's freshness check: sources under these dirs only
const SOURCE_DIRS = ['lab', 'lib']
const KEEP_UNUSED_MS = 10 * 60_000

const startedAt = new Date()
mkdirSync(cache, { recursive: true })
const tmpOut = join(cache, `tmp-${Date.now()}-${process.pid}`)

/** Every bundled source's content as esbuild read it, by absolute path: the build's key. */
const sources = new Map()
const pinMetaUrl = {
  name: 'pin-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8')
      sources.set(args.path, src)
      const url = JSON.stringify(pathToFileURL(args.path).href)
      return {
        contents: src
          .replaceAll('import.meta.url', url)
          .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path))),
        loader: 'ts',
      }
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
  outdir: tmpOut,
  outExtension: { '.js': '.mjs' },
  packages: 'external',
  plugins: [pinMetaUrl],
  logLevel: 'error',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
})

const hash = createHash('sha256')
  .update(`${repo}\0${esbuildVersion}\0`)
  .update(readFileSync(fileURLToPath(import.meta.url)))
for (const [path, src] of [...sources].sort(([a], [b]) => (a < b ? -1 : 1))) {
  const rel = relative(repo, path)
  if (!SOURCE_DIRS.some((d) => rel.startsWith(d + sep))) {
    rmSync(tmpOut, { recursive: true, force: true })
    throw new Error(
      `lab/talosctl/build.mjs: the bundle includes ${rel}, outside ${SOURCE_DIRS.join('/ and ')}/: add its directory to SOURCE_DIRS here, to the find in current-build.sh and to daemon.ts, or its changes will go unseen`,
    )
  }
  hash.update(`${rel}\0${src}\0`)
}
const id = `b-${hash.digest('hex').slice(0, 20)}`
const out = join(cache, id)
const complete = (dir) => existsSync(join(dir, 'main.mjs')) && existsSync(join(dir, 'daemon.mjs'))
if (!complete(out)) {
  try {
    renameSync(tmpOut, out)
  } catch {
    // a concurrent build of the same sources got there first (then use it: a talosctl may be running it already),
    // or a damaged build is in the way (moved aside, removed below once unused)
    if (!complete(out)) {
      renameSync(out, `${tmpOut}-damaged`)
      renameSync(tmpOut, out)
    }
  }
}
rmSync(tmpOut, { recursive: true, force: true })
const now = new Date()
utimesSync(out, now, now) // in use: not removed as unused below (by this or another checkout's build)

mkdirSync(dirname(stamp), { recursive: true })
const tmpStamp = `${stamp}.${process.pid}`
writeFileSync(tmpStamp, id + '\n')
utimesSync(tmpStamp, startedAt, startedAt)
renameSync(tmpStamp, stamp)

removeUnused()
process.stdout.write(out + '\n')

/** Every checkout's stamp, as [stamp file, checkout dir]. */
function listStamps(dir = checkouts) {
  let entries
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
  return entries.flatMap((e) =>
    e.isDirectory()
      ? listStamps(join(dir, e.name))
      : e.name === 'current'
        ? [[join(dir, e.name), '/' + relative(checkouts, dir)]]
        : [],
  )
}

/**
 * Stamps of checkouts that are gone (moved or deleted) go, and so do builds (and crashed builds' tmp dirs, and the
 * old layout's entries) that no stamp names, once no running talosctl can still be loading their lazy chunks.
 */
function removeUnused() {
  const named = new Set()
  for (const [file, checkout] of listStamps()) {
    if (existsSync(join(checkout, 'lab/talosctl/build.mjs'))) {
      try {
        named.add(readFileSync(file, 'utf8').trim())
      } catch {}
      continue
    }
    rmSync(file, { force: true })
    for (let d = dirname(file); d.startsWith(checkouts + sep); d = dirname(d)) {
      try {
        rmdirSync(d)
      } catch {
        break
      }
    }
  }
  for (const d of readdirSync(cache)) {
    if (d === 'checkouts' || named.has(d)) continue
    try {
      if (Date.now() - statSync(join(cache, d)).mtimeMs > KEEP_UNUSED_MS)
        rmSync(join(cache, d), { recursive: true, force: true })
    } catch {}
  }
}
