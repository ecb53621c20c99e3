#!/bin/sh
# Sets CUR to the directory of the current lab talosctl bundle, building it first when it is missing or older than any
# lab/*.ts; prints it when run (lab/talosctl-daemon.ts), sourced by lab/bin/talosctl (no extra process per call).
# Both this file and lab/bin/talosctl sit two levels below the repo, so $0 finds the repo either way.
REPO="$(CDPATH= cd -- "$(dirname -- "$(readlink -f -- "$0")")/../.." && pwd)"
CACHE="$REPO/node_modules/.cache/lab-talosctl"
CUR=""
[ -f "$CACHE/current" ] && CUR="$CACHE/$(cat "$CACHE/current")"
if [ -z "$CUR" ] || [ ! -f "$CUR/main.mjs" ] || [ ! -f "$CUR/daemon.mjs" ] || [ -n "$(find "$REPO/lab" -name '*.ts' -newer "$CUR/main.mjs" 2>/dev/null | head -n 1)" ]; then
  CUR="$(env -u NODE_OPTIONS node "$REPO/lab/talosctl/build.mjs")" || exit 1
fi
[ "${0##*/}" = current-build.sh ] && echo "$CUR"
true
