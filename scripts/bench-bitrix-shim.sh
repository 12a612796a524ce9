#!/usr/bin/env bash
# Median wall time of one pull flush in a Bitrix site through bxpush.pull's shim vs the pull
# module's stock HTTP transport (see scripts/bench-bitrix-shim.php). Not a test.
#   scripts/bench-bitrix-shim.sh [N]     (default 2000 flushes each)
set -euo pipefail
cd "$(dirname "$0")/.."
for f in "${BXPUSH_BIN:-target/release/bxpush}" "${BXPUSH_SO:-target/release/libbxpush.so}"; do
  [ -e "$f" ] || { echo "bench-bitrix-shim: $f is missing (make build)" >&2; exit 1; }
done
exec php -n -d date.timezone=UTC scripts/bench-bitrix-shim.php "${1:-${BENCH_N:-2000}}"
