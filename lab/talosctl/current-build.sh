#!/bin/sh
# Sets CUR to the directory of this checkout's lab talosctl bundle, building it first (lab/talosctl/build.mjs) when
# this checkout has none or a lab/ or lib/ *.ts changed since it was built; prints it when run
# (lab/talosctl-daemon.ts), sourced by lab/bin/talosctl (no extra process per call).
# A bundle bakes its checkout's path, and node_modules may be shared with other checkouts or moved with this one, so
# each checkout has its own stamp, keyed on its path (see build.mjs). "Changed" is judged by ctime, which every write,
# copy and rename of a file sets and no tool can set back (cp -p, rsync -a and tar keep mtimes); a false alarm
# (touch, chmod) costs one esbuild run that reuses the same build, since builds are keyed on the sources' content.
# Both this file and lab/bin/talosctl sit two levels below the repo, so $0 finds the repo either way.
REPO="$(CDPATH= cd -- "$(dirname -- "$(readlink -f -- "$0")")/../.." && pwd)"
CACHE="$REPO/node_modules/.cache/lab-talosctl"
STAMP="$CACHE/checkouts$REPO/current"
CUR=""
[ -r "$STAMP" ] && read -r CUR < "$STAMP" && CUR="$CACHE/$CUR"
if [ -z "$CUR" ] || [ ! -f "$CUR/main.mjs" ] || [ ! -f "$CUR/daemon.mjs" ] || [ -n "$(find "$REPO/lab" "$REPO/lib" -name '*.ts' -cnewer "$STAMP" -print -quit 2>/dev/null)" ]; then
  CUR="$(env -u NODE_OPTIONS node "$REPO/lab/talosctl/build.mjs")" || exit 1
fi
[ "${0##*/}" = current-build.sh ] && echo "$CUR"
true
