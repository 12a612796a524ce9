#!/usr/bin/env bash
# Runs the standard `bxpush bench` scenarios against a freshly started bxpush and rewrites
# BENCHMARKS.md from the results (`make bench`).
#
#   BXPUSH_BIN       the binary (default target/release/bxpush)
#   BENCH_OUT        where the JSON results go (default target/bench)
#   BENCH_SCENARIOS  which scenarios (default: all, in the order of BENCHMARKS.md)
#   BENCH_MD         the file rendered (default BENCHMARKS.md)
#   BENCH_SKIP_PHP   set: keep the last PHP measurement instead of redoing it
#
# Each scenario starts its own server (`--spawn-server`), pinned to CPU 0 while the bench
# runs on CPU 1 (the bench's defaults on a machine with 2+ CPUs); the cluster scenario
# starts a redis-server and three nodes, all on CPU 0 (it needs the Debian package
# redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BXPUSH_BIN:-target/release/bxpush}
OUT=${BENCH_OUT:-target/bench}
MD=${BENCH_MD:-BENCHMARKS.md}
SCENARIOS=${BENCH_SCENARIOS:-"idle fanout latency sustained storm longpoll sse cluster"}

[ -x "$BIN" ] || { echo "bench: $BIN not built (make build)" >&2; exit 1; }
# `bxpush bench` execs the bxpush-bench binary beside it (crate bench/).
[ -x "$(dirname "$BIN")/bxpush-bench" ] || { echo "bench: $(dirname "$BIN")/bxpush-bench not built (make build)" >&2; exit 1; }
# 19,000 connections: the server and each worker need that many descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 19600 ]; then
  echo "bench: open files limit $(ulimit -n) is below 19,600: the 19,000-connection scenarios will fail" >&2
fi

# Only the scenarios run now are replaced: `BENCH_SCENARIOS=fanout scripts/bench.sh`
# reruns one and re-renders with the others' last results.
mkdir -p "$OUT"
failed=""
for s in $SCENARIOS; do
  echo "== bench: $s (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  rm -f "$OUT/$s.json"
  if ! "$BIN" bench --scenario "$s" --spawn-server "$BIN" --json "$OUT/$s.json"; then
    echo "bench: scenario $s failed" >&2
    failed="$failed $s"
  fi
  # Let the closed sockets and the CPU settle before the next scenario.
  sleep 3
done

# The PHP publisher row: measured by scripts/bench-php.sh when the extension is built.
if [ -n "${BENCH_SKIP_PHP:-}" ] && [ -f "$OUT/php.md" ]; then
  echo "bench: keeping the last PHP measurement ($OUT/php.md)" >&2
else
  if ! scripts/bench-php.sh "$BIN" "$OUT/php.md"; then
    echo "bench: the PHP measurement failed (see above); BENCHMARKS.md says so" >&2
  fi
  # send() inside a real php-fpm worker, owner running and stopped.
  if scripts/bench-php-fpm.sh "$BIN" "$OUT/php-fpm.md" >/dev/null; then
    printf '\n' >>"$OUT/php.md"
    cat "$OUT/php-fpm.md" >>"$OUT/php.md"
  else
    printf '\n### send() in a php-fpm worker\n\nThe measurement failed (scripts/bench-php-fpm.sh).\n' >>"$OUT/php.md"
  fi
  # One pull flush in a Bitrix site (stand-in kernel): bxpush.pull's shim vs the stock HTTP transport.
  if shim_out=$(BXPUSH_BIN="$BIN" scripts/bench-bitrix-shim.sh 2>&1); then
    printf '\n### pull flush in a Bitrix site (bxpush.pull)\n\n`scripts/bench-bitrix-shim.sh`:\n\n```\n%s\n```\n' "$shim_out" >>"$OUT/php.md"
  else
    printf '\n### pull flush in a Bitrix site (bxpush.pull)\n\nThe measurement failed (scripts/bench-bitrix-shim.sh).\n' >>"$OUT/php.md"
  fi
fi

# What the figures mean and where the gaps come from (kept by hand, appended last),
# preceded by the 30-minute soak's hand-run record unless a soak was run into $OUT.
if [ -f "$OUT/soak.json" ]; then
  cp scripts/bench-analysis.md "$OUT/analysis.md"
else
  cat scripts/bench-soak.md scripts/bench-analysis.md >"$OUT/analysis.md"
fi
"$BIN" bench --render "$OUT" --out "$MD"
echo "bench: wrote $MD${failed:+ (failed:$failed)}" >&2
[ -z "$failed" ]
