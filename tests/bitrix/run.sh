#!/usr/bin/env bash
# Tests of the Bitrix module bxpush.pull: every tests/bitrix/t/*.php (each one a PHP process
# that prints PASS/FAIL lines; a file that exits non-zero without a FAIL line counts as one
# failure), then `node --test` over tests/bitrix/**/*.test.mjs (headless-browser tests of the
# settings page). Ends with exactly one line "N passed, N failed"; exits non-zero on any failure.
#
# Environment: BXPUSH_BIN (default target/release/bxpush), BXPUSH_SO (default
# target/release/libbxpush.so), KEEP_TMP=1 keeps the temp sites, ONLY=<glob> picks t/ files.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/bitrix"
export BXPUSH_BIN="${BXPUSH_BIN:-$ROOT/target/release/bxpush}"
export BXPUSH_SO="${BXPUSH_SO:-$ROOT/target/release/libbxpush.so}"
PHP="${PHP:-php}"

PASSED=0; FAILED=0
for f in "$BXPUSH_BIN" "$BXPUSH_SO"; do
  [ -e "$f" ] || { echo "missing $f (run 'make build')"; echo "0 passed, 1 failed"; exit 1; }
done

for t in "$HERE"/t/${ONLY:-*}.php; do
  [ -e "$t" ] || continue
  name="t/$(basename "$t")"
  echo "== $name"
  start=$(date +%s%N)
  out=$("$PHP" -n -d date.timezone=UTC "$t" 2>&1)
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf '%s\n' "$out"
  p=$(grep -c '^PASS ' <<<"$out"); f=$(grep -c '^FAIL ' <<<"$out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1; echo "FAIL $name exited with $rc without reporting a failed test"
  fi
  echo "-- $name: $p passed, $f failed (${ms} ms)"
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
done

# node tests (the settings page in headless Chromium), if any
mapfile -t MJS < <(find "$HERE" -name node_modules -prune -o -name '*.test.mjs' -print | sort)
if [ "${#MJS[@]}" -gt 0 ] && [ -z "${ONLY:-}" ]; then
  echo "== node --test ${MJS[*]#$ROOT/}"
  tap="$(mktemp)"
  NODE_PATH="$ROOT/tests/js/node_modules${NODE_PATH:+:$NODE_PATH}" node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "${MJS[@]}" 2>&1
  rc=$?
  p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | awk '{s+=$1} END {print s+0}')
  f=$(sed -nE 's/^# (fail|cancelled) ([0-9]+)$/\2/p' "$tap" | awk '{s+=$1} END {print s+0}')
  rm -f "$tap"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL node --test exited with $rc without reporting a failed test"; fi
  echo "-- node: $p passed, $f failed"
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
