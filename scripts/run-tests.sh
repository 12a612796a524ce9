#!/usr/bin/env bash
# Runs every test suite of bxpush, shows each suite's full output, and ends with one line
#
#   N passed, N failed
#
# (the sum over all suites). Exits non-zero if any test failed or any suite could not run
# (a suite that exits non-zero without reporting a failed test — a compile error, a crash,
# a missing tool — counts as 1 failed).
#
# Called by `make test` (which installs deps and builds target/release/bxpush first).
# Environment:
#   BXPUSH_BIN   server binary for the client suites (default: <repo>/target/release/bxpush)
#   CARGO        cargo command (default: cargo)
#   SUITES       space-separated subset to run, e.g. SUITES="js" (default: all)
set -uo pipefail   # no -e: a failing suite must not stop the others

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
export BXPUSH_BIN="${BXPUSH_BIN:-$ROOT/target/release/bxpush}"
CARGO="${CARGO:-cargo}"

LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/bxpush-tests.XXXXXX")"
trap 'rm -rf "$LOG_DIR"' EXIT

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()

# record SUITE PASSED FAILED EXIT_CODE SECONDS
record() {
  local suite=$1 passed=$2 failed=$3 rc=$4 secs=$5 note=""
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
    note=" (exit $rc without a failed test: suite could not run; counted as 1 failed)"
  fi
  TOTAL_PASSED=$((TOTAL_PASSED + passed))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
  SUMMARY+=("$(printf '%-8s %5d passed, %3d failed  %4ds%s' "$suite" "$passed" "$failed" "$secs" "$note")")
}

banner() { printf '\n======== %s ========\n' "$*"; }

# --- suite: cargo test ------------------------------------------------------------------------
# Sums every "test result: ok. N passed; M failed; ..." line (one per test binary and doc-tests).
suite_cargo() {
  local log="$LOG_DIR/cargo.log" start=$SECONDS rc
  banner "cargo test --release --locked --no-fail-fast"
  "$CARGO" test --release --locked --no-fail-fast 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local passed failed
  passed=$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed;.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  failed=$(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed;.*/\2/p' "$log" | awk '{s+=$1} END {print s+0}')
  record cargo "$passed" "$failed" "$rc" $((SECONDS - start))
}

# --- suite: Node client tests (tests/js/*.test.mjs, node's built-in runner) -------------------
# Human-readable spec output goes to the log; a TAP copy goes to a file, whose closing
# "# pass N" / "# fail N" / "# cancelled N" lines are summed (cancelled counts as failed).
suite_js() {
  local log="$LOG_DIR/js.tap" start=$SECONDS rc
  banner "node --test tests/js (BXPUSH_BIN=$BXPUSH_BIN)"
  local files=(tests/js/*.test.mjs)
  if [ ! -e "${files[0]}" ]; then
    echo "no tests/js/*.test.mjs"; record js 0 0 1 0; return
  fi
  if [ ! -x "$BXPUSH_BIN" ]; then
    echo "js: server binary $BXPUSH_BIN is missing (run 'make build')"
  fi
  node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$log" \
    "${files[@]}" 2>&1
  rc=$?
  local passed failed cancelled
  passed=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  failed=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  cancelled=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  record js "$passed" $((failed + cancelled)) "$rc" $((SECONDS - start))
}

# --- later suites -------------------------------------------------------------------------------
# ADD NEW SUITES HERE: write suite_NAME() that shows its output, parses its own counts and
# calls `record NAME PASSED FAILED EXIT_CODE SECONDS`, then add NAME to ALL_SUITES below.
#
# suite_phpt() {
#   # PHP regression suite (run-tests.php over phpt/ with extension=bxpush).
#   # run-tests.php closes with "Tests passed : N (..%)" and "Tests failed : N (..%)".
# }

ALL_SUITES="cargo js"

for s in ${SUITES:-$ALL_SUITES}; do
  if ! declare -F "suite_$s" >/dev/null; then
    echo "unknown suite: $s" >&2; record "$s" 0 0 2 0; continue
  fi
  "suite_$s"
done

banner "summary"
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" -eq 0 ]
