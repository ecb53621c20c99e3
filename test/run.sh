#!/usr/bin/env bash
# npm test: the deploy e2e (about 30 minutes, most of it the lab's machines rebooting and the runbooks waiting for
# them) runs beside every other test file, so the whole suite stays within CI's 45 minutes on 2 cores. Each side runs
# its files one at a time; every lab test has a loopback range of its own, so the two sides never share a lab. Lines
# are prefixed with their side; the exit code is non-zero when either side failed. Each side also writes node's spec
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
# the e2e side takes a few files beside the e2e (about 5½ minutes), so both sides end near the same time (CI of
# 39bbcd6, with vip-election on this side too: this side's tests 39.7 min, the other's 32.3)
after_e2e=(test/lab/etcd-recover.test.ts test/lab/lab-lifecycle.test.ts test/lab/rescue-ssh.test.ts
  test/lab/cpu-manager-boot.test.ts)
mapfile -t rest < <(ls test/unit/*.test.ts test/lab/*.test.ts | grep -v '^test/lab/deploy-e2e\.test\.ts$' |
  grep -vxF -f <(printf '%s\n' "${after_e2e[@]}"))

suite "$reports/e2e" test/lab/deploy-e2e.test.ts "${after_e2e[@]}" 2>&1 | sed -u 's/^/[e2e] /' &
e2e=$!
suite "$reports/rest" "${rest[@]}" 2>&1 | sed -u 's/^/[rest] /'
rest_code=$?
wait "$e2e"
e2e_code=$?
failures e2e "$reports/e2e"
failures rest "$reports/rest"
echo "npm test: e2e exit $e2e_code, the other tests exit $rest_code"
[ "$e2e_code" -eq 0 ] && [ "$rest_code" -eq 0 ]
