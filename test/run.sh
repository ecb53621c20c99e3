#!/usr/bin/env bash
# npm test: the deploy e2e (about 30 minutes, most of it the lab's machines rebooting and the runbooks waiting for
# them) runs beside every other test file, so the whole suite stays within CI's 45 minutes on 2 cores. Each side runs
# its files one at a time; every lab test has a loopback range of its own, so the two sides never share a lab; the
# unit tests run as a third side. Lines are prefixed with their side; the exit code is non-zero when any side failed. Each side also writes node's spec
# report to a file, and its "failing tests" section is printed last, so the end of a long log says what failed.
set -uo pipefail
cd "$(dirname "$0")/.."
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
suite() {
  local report=$1
  shift
  node --import tsx --test --test-concurrency=1 \
    --test-reporter=tap --test-reporter-destination=stdout \
    --test-reporter=spec --test-reporter-destination="$report" "$@"
}
failures() { [ -s "$2" ] && sed -n '/failing tests:/,$p' "$2" | sed "s/^/[$1] /"; }
# the e2e side takes two shorter files too (about 3 minutes), so both sides end near the same time (CI of ea81c4b:
# the e2e alone 28.8 min with its drills failed early, the other side 32.6 with the BMC test's 1.0); node --test runs
# a side's files in name order, so these two run before the e2e
e2e_side=(test/lab/bmc.test.ts test/lab/cpu-manager-boot.test.ts)
mapfile -t rest < <(ls test/lab/*.test.ts | grep -v '^test/lab/deploy-e2e\.test\.ts$' |
  grep -vxF -f <(printf '%s\n' "${e2e_side[@]}"))

# the unit tests (about 5 minutes of CPU) run as a third side from the start: the lab sides spend much of their time
# waiting for machines to reboot and leases to expire, about a sixth of the two cores idle (process accounting of a
# CI run). They run at a lower priority (nice 5): the lab sides are the longer ones, their real etcd, API servers and
# drills have clocks of their own, and the unit tests can take the idle time
(renice -n 5 -p "$BASHPID" >/dev/null && suite "$reports/unit" test/unit/*.test.ts) 2>&1 | sed -u 's/^/[unit] /' &
unit=$!
suite "$reports/e2e" "${e2e_side[@]}" test/lab/deploy-e2e.test.ts 2>&1 | sed -u 's/^/[e2e] /' &
e2e=$!
suite "$reports/rest" "${rest[@]}" 2>&1 | sed -u 's/^/[rest] /'
rest_code=$?
wait "$e2e"
e2e_code=$?
wait "$unit"
unit_code=$?
failures unit "$reports/unit"
failures e2e "$reports/e2e"
failures rest "$reports/rest"
echo "npm test: unit exit $unit_code, e2e exit $e2e_code, the other lab tests exit $rest_code"
[ "$unit_code" -eq 0 ] && [ "$e2e_code" -eq 0 ] && [ "$rest_code" -eq 0 ]
