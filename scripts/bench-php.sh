#!/usr/bin/env bash
# The PHP row of BENCHMARKS.md: median cost of one BxPush\publish() from a PHP process
# (the worker side of the extension: encode + hand-off to the forwarder thread) against
# one HTTP POST to /bitrix/pub/ per flush, in wall time and in instructions (callgrind).
# Writes a Markdown section to $2 (appended to BENCHMARKS.md by the renderer).
#
#   scripts/bench-php.sh BXPUSH_BIN OUT.md
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1
OUT=$2
EXT=${BXPUSH_EXT:-target/release/libbxpush.so}
N=${BENCH_PHP_N:-20000}
NCG=${BENCH_PHP_CALLGRIND_N:-2000}

ROW=$(dirname "$OUT")/php-row.md
section() {
  printf '## php\n\nMedian cost of one send from PHP vs one HTTP POST per flush.\n\n%s\n' "$1" > "$OUT"
  printf '| php | median cost of one send() vs one HTTP POST per flush | send() far below a POST | not measured yet: %s | info |\n' "$1" > "$ROW"
}

if ! command -v php >/dev/null 2>&1; then
  section "Not measured yet: \`php\` is not installed on this machine."
  exit 0
fi
if [ ! -f "$EXT" ]; then
  section "Not measured yet: the PHP extension ($EXT) is not built (\`cargo build --release -p bxpush-php\`)."
  exit 0
fi
PHP=(php -n -d "extension=$EXT")
if ! "${PHP[@]}" -r 'exit(function_exists("BxPush\\publish") ? 0 : 1);' 2>/dev/null; then
  section "Not measured yet: $EXT does not load into \`php\` or has no \`BxPush\\\\publish\`."
  exit 0
fi

tmp=$(mktemp -d)
key=bxpush-bench-php-key
free_port() { php -n -r '$s = stream_socket_server("tcp://127.0.0.1:0"); echo explode(":", stream_socket_get_name($s, false))[1];'; }
sub=127.0.0.1:$(free_port)
pub=127.0.0.1:$(free_port)
BXPUSH_LOG=warn taskset -c 0 "$BIN" serve --listen-sub "$sub" --listen-pub "$pub" \
  --listen-php "$tmp/php.sock" --signature-key "$key" >/dev/null &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -S "$tmp/php.sock" ] && break; sleep 0.05; done
channel=$(printf 'bench-php-%s' "$$" | md5sum | cut -c1-32)
INI=(-d "bxpush.server=$tmp/php.sock" -d "bxpush.signature_key=$key" -d "bxpush.spool_dir=$tmp/spool")
run() { taskset -c 1 "${PHP[@]}" "${INI[@]}" scripts/bench-php.php "$1" "$2" "$pub" "$channel"; }

send=$(run send "$N")
post=$(run post "$((N / 10))")
field() { sed -E "s/.*\"$2\":([0-9]+).*/\1/" <<<"$1"; }
us() { awk -v n="$1" 'BEGIN { printf "%.2f µs", n / 1000 }'; }

# Instructions per call: callgrind over N calls minus callgrind over 0 calls (start-up,
# warm-up), divided by N; every thread of the PHP process counted (the forwarder too).
cg_rows=""
if command -v valgrind >/dev/null 2>&1; then
  # Prints "<PHP thread> <all threads>" instructions of one run.
  cg() {
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/cg.out" \
      "${PHP[@]}" "${INI[@]}" scripts/bench-php.php "$1" "$2" "$pub" "$channel" >/dev/null 2>"$tmp/cg.log" || return 1
    local total=0 main=0 f n
    for f in "$tmp"/cg.out-*; do
      n=$(grep -E '^(summary|totals):' "$f" | head -1 | awk '{print $2}')
      total=$((total + n))
      case "$f" in *-01) main=$n ;; esac
    done
    rm -f "$tmp"/cg.out-*
    echo "$main $total"
  }
  if s0=$(cg send 0) && s1=$(cg send "$NCG") && p0=$(cg post 0) && p1=$(cg post "$((NCG / 10))") \
    && b0=$(cg build 0) && b1=$(cg build "$NCG"); then
    read -r b0m _ <<<"$b0"; read -r b1m _ <<<"$b1"
    read -r s0m s0t <<<"$s0"; read -r s1m s1t <<<"$s1"
    read -r p0m p0t <<<"$p0"; read -r p1m p1t <<<"$p1"
    np=$((NCG / 10))
    cg_rows="| instructions per call, PHP thread (callgrind; user space only, the kernel's socket work is not counted) | $(((s1m - s0m) / NCG)) | $(((p1m - p0m) / np)) |
| instructions per call, all threads of the PHP process (+ the forwarder thread) | $(((s1t - s0t) / NCG)) | $(((p1t - p0t) / np)) |
| of which building the message array in PHP (baseline, the same in both) | $(((b1m - b0m) / NCG)) | $(((b1m - b0m) / NCG)) |"
  else
    cg_rows="| instructions per call (callgrind) | failed: $(tail -1 "$tmp/cg.log") | |"
  fi
fi

{
  printf '## php\n\n'
  printf 'Median cost of one send from PHP vs one HTTP POST per flush. PHP CLI (`php -n -d extension=%s`)\n' "$EXT"
  printf 'on CPU 1 publishing a ~200-byte pull-module-shaped array to one private channel;\n'
  printf '`bxpush serve --listen-php` on CPU 0. `BxPush\\publish()` runs the same worker-side code as\n'
  printf 'in an FPM worker (encode on the PHP thread, hand-off to the forwarder thread, which\n'
  printf 'sends to the owner over the unix socket); it is measured from the CLI, not from a\n'
  printf 'running FPM pool. The POST is what the pull module does per flush: a new TCP\n'
  printf 'connection, `POST /bitrix/pub/` with `Message-Expiry`, wait for the 200.\n\n'
  printf '```sh\nscripts/bench-php.sh target/release/bxpush target/bench/php.md\n```\n\n'
  printf '| per message | `BxPush\\publish()` | HTTP POST to /bitrix/pub/ |\n|---|---|---|\n'
  printf '| calls measured | %s | %s |\n' "$(field "$send" n)" "$(field "$post" n)"
  printf '| median wall time | %s | %s |\n' "$(us "$(field "$send" median_ns)")" "$(us "$(field "$post" median_ns)")"
  printf '| p99 wall time | %s | %s |\n' "$(us "$(field "$send" p99_ns)")" "$(us "$(field "$post" p99_ns)")"
  printf '| mean wall time | %s | %s |\n' "$(us "$(field "$send" mean_ns)")" "$(us "$(field "$post" mean_ns)")"
  printf '| final `BxPush\\flush()` (all %s acknowledged) | %s | — |\n' "$(field "$send" n)" "$(us "$(field "$send" flush_ns)")"
  [ -n "$cg_rows" ] && printf '%s\n' "$cg_rows"
  printf '\n'
} > "$OUT"
printf '| php | median cost of one `BxPush\\publish()` vs one HTTP POST per flush (PHP CLI, see php) | send() far below a POST | %s vs %s | %s |\n' \
  "$(us "$(field "$send" median_ns)")" "$(us "$(field "$post" median_ns)")" \
  "$([ "$(field "$send" median_ns)" -lt "$(field "$post" median_ns)" ] && echo ok || echo MISSED)" > "$ROW"
echo "bench-php: send $(field "$send" median_ns) ns, post $(field "$post" median_ns) ns (median)" >&2
