#!/usr/bin/env bash
# Sets up everything (Debian packages, npm ci, build) and runs the whole test
# suite: unit, integration (real etcd on loopback), e2e (network-namespace and
# systemd-nspawn hosts; these need root and skip loudly without it).
# Ends with one plain line: "N passed, N failed, N skipped".
#   scripts/test.sh                 # everything
#   scripts/test.sh test/unit       # a subset (paths or globs, as tap takes them)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh

# Tests and helpers are TypeScript too; tap's loader does not type-check them.
if ! npx tsc -p tsconfig.test.json; then
  echo "type errors in src/, test/ or bench/ (npx tsc -p tsconfig.test.json)" >&2
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

# The systemd e2e tests boot a cached Debian root; build it now, outside any
# test file's timeout (debootstrap takes 1–8 min depending on the mirror).
if [ "$(id -u)" -eq 0 ]; then
  TS_NODE_TRANSPILE_ONLY=1 node --import=@tapjs/typescript/import test/helpers/prepare-hosts.ts ||
    echo "prepare-hosts failed; the systemd e2e tests will try again and report why" >&2
fi

log=$(mktemp -t etcd-agent-test.XXXXXX)
trap 'rm -f "$log"' EXIT

if [ "$(id -u)" -ne 0 ]; then
  echo "!!! NOT ROOT: the e2e tests (network namespaces, systemd-nspawn) will SKIP. Run as root (CI does) for the full suite. !!!" >&2
fi

pass=0; fail=0; skip=0; status=0
# Runs tap once with these arguments and adds its counts to the totals.
run_tap() {
  local plog summary p f k pstatus
  plog=$(mktemp -t etcd-agent-phase.XXXXXX)
  set +e
  npx tap "$@" 2>&1 | tee "$plog"
  pstatus=${PIPESTATUS[0]}
  set -e
  cat "$plog" >>"$log"
  # tap closes with "# { total: T, pass: P, fail: F, skip: S, todo: D }" (zero counts omitted).
  summary=$(grep -E '^# \{ total: [0-9]+' "$plog" | tail -n1 || true)
  rm -f "$plog"
  p=$(sed -nE 's/.*[ {]pass: ([0-9]+).*/\1/p' <<<"$summary"); f=$(sed -nE 's/.*[ {]fail: ([0-9]+).*/\1/p' <<<"$summary")
  k=$(sed -nE 's/.*[ {]skip: ([0-9]+).*/\1/p' <<<"$summary")
  p=${p:-0}; f=${f:-0}; k=${k:-0}
  if [ -z "$summary" ]; then
    echo "tap printed no summary for: $* (exit $pstatus)" >&2
    f=$((f + 1))
  fi
  if [ "$pstatus" -ne 0 ]; then
    status=$pstatus
    # A test file that crashed or timed out counts as a failure even without a failed assertion.
    [ "$f" -eq 0 ] && f=1
  fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + k))
}

if [ "$#" -gt 0 ]; then
  run_tap "$@"
else
  # Two phases: the files that start no cluster (unit, hostile input,
  # packaging) two at a time, then those that run real clusters (integration,
  # e2e) one at a time: their timing bounds assume a machine that is not also
  # running another cluster. The slowest scenarios (certificates living out
  # real minutes, a second package build) are in test/long, run by
  # `npm run test:long`, not here.
  run_tap --jobs=2 'test/unit/**/*.test.ts' 'test/hostile/**/*.test.ts' 'test/packaging/**/*.test.ts'
  run_tap --jobs=1 'test/integration/**/*.test.ts' 'test/e2e/**/*.test.ts'
fi

# CI shows the tail of this output: name the failing files there, just above the counts.
failed_files=$(grep -E '^not ok [0-9]+ - ' "$log" | sed -E 's/^not ok [0-9]+ - ([^ ]+).*/\1/' | sort -u | tr '\n' ' ' || true)
if [ -n "$failed_files" ]; then
  # The failed assertions themselves (nested "not ok" lines), so a CI tail can be diagnosed.
  echo "failed assertions:"
  # Each with the first lines of its YAML diagnostic (found/wanted/at).
  awk '/^ +not ok [0-9]+ - /{n=10; print; next} n>0{ if ($0 ~ /^ +\.\.\.$/) {n=0; next} print; n--}' "$log" |
    sed -E 's/^ {4,}/  /' | head -n 200 || true
  echo "failed test files: $failed_files"
fi
echo "${pass} passed, ${fail} failed, ${skip} skipped"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
