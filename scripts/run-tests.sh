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

# --- suite: PHP extension regression tests (phpt/*.phpt, PHP's run-tests.php) ---------------
# run-tests.php exits 0 when every test is skipped (e.g. the extension did not load), so the
# suite first checks that the extension loads, and counts skipped and warned tests as failed.
# `-n`: no php.ini, so an installed bxpush (make install) is not loaded twice.
suite_phpt() {
  local log="$LOG_DIR/phpt.log" start=$SECONDS rc
  local so="${BXPUSH_SO:-$ROOT/target/release/libbxpush.so}"
  local runner
  runner="$(php-config --extension-dir 2>/dev/null)/build/run-tests.php"
  banner "phpt: run-tests.php over phpt/ (extension=$so)"
  if ! command -v php >/dev/null 2>&1 || [ ! -f "$runner" ]; then
    echo "phpt: php or $runner missing (apt-get install php8.2-cli php8.2-dev)"; record phpt 0 1 1 0; return
  fi
  if ! php -n -d "extension=$so" -r 'exit(extension_loaded("bxpush") ? 0 : 1);'; then
    echo "phpt: $so does not load (run 'make build')"; record phpt 0 1 1 $((SECONDS - start)); return
  fi
  BXPUSH_SO="$so" TEST_PHP_EXECUTABLE="$(command -v php)" \
    php -n "$runner" -n -q --no-color --no-progress -d "extension=$so" "$ROOT/phpt/" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local passed failed skipped warned
  passed=$(sed -nE 's/^Tests passed *: *([0-9]+).*/\1/p' "$log" | tail -1)
  failed=$(sed -nE 's/^Tests failed *: *([0-9]+).*/\1/p' "$log" | tail -1)
  skipped=$(sed -nE 's/^Tests skipped *: *([0-9]+).*/\1/p' "$log" | tail -1)
  warned=$(sed -nE 's/^Tests warned *: *([0-9]+).*/\1/p' "$log" | tail -1)
  passed=${passed:-0}; failed=$(( ${failed:-0} + ${skipped:-0} + ${warned:-0} ))
  [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ] && failed=1   # nothing ran
  echo "phpt: $passed passed, $failed failed (skipped and warned count as failed)"
  record phpt "$passed" "$failed" "$rc" $((SECONDS - start))
}

# --- suite: php-fpm torture test (tests/fpm/run.sh) ---------------------------------------------
# A real php-fpm with the extension, a `bxpush serve --listen-php` owner, worker recycles, FPM
# reloads and owner restarts; the script ends with its own "N passed, N failed".
suite_fpm() {
  local log="$LOG_DIR/fpm.log" start=$SECONDS rc
  banner "fpm: tests/fpm/run.sh (BXPUSH_BIN=$BXPUSH_BIN)"
  BXPUSH_SO="${BXPUSH_SO:-$ROOT/target/release/libbxpush.so}" tests/fpm/run.sh 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local passed failed
  passed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p' "$log" | tail -1)
  failed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p' "$log" | tail -1)
  record fpm "${passed:-0}" "${failed:-0}" "$rc" $((SECONDS - start))
}

# --- suite: the Bitrix module bxpush.pull (tests/bitrix/run.sh) ------------------------------
# A stand-in Bitrix kernel and pull module, a real `bxpush serve`, the extension; install,
# the transport shim against the vectors, spooling, Site Checker, agent, settings page in
# headless Chromium. The script ends with its own "N passed, N failed".
suite_bitrix() {
  local log="$LOG_DIR/bitrix.log" start=$SECONDS rc
  banner "bitrix: tests/bitrix/run.sh (BXPUSH_BIN=$BXPUSH_BIN)"
  BXPUSH_SO="${BXPUSH_SO:-$ROOT/target/release/libbxpush.so}" tests/bitrix/run.sh 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local passed failed
  passed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p' "$log" | tail -1)
  failed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p' "$log" | tail -1)
  record bitrix "${passed:-0}" "${failed:-0}" "$rc" $((SECONDS - start))
}

ALL_SUITES="cargo js phpt fpm bitrix"

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
