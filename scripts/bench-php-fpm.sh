#!/usr/bin/env bash
# Median wall time of one send() inside a real php-fpm worker (Debian's php8.2-fpm, its own
# config on loopback), with the bxpush owner running and with it stopped (the worker then
# queues in memory and spools at request end). Prints a Markdown section to $2.
#
#   scripts/bench-php-fpm.sh BXPUSH_BIN OUT.md
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1
OUT=$2
SO=${BXPUSH_EXT:-target/release/libbxpush.so}
N=${BENCH_PHP_FPM_N:-2000}
FPM=$(command -v php-fpm8.2 || command -v php-fpm || true)
if [ -z "$FPM" ] || ! command -v cgi-fcgi >/dev/null || [ ! -f "$SO" ]; then
  printf '### send() in a php-fpm worker\n\nNot measured: php-fpm, cgi-fcgi or %s missing.\n' "$SO" >"$OUT"
  exit 0
fi
tmp=$(mktemp -d)
owner=""; fpm=""
cleanup() {
  [ -n "$fpm" ] && kill -QUIT "$fpm" 2>/dev/null
  [ -n "$owner" ] && kill "$owner" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { php -n -r '$s=stream_socket_server("tcp://127.0.0.1:0");$n=stream_socket_get_name($s,false);echo substr($n,strrpos($n,":")+1);'; }
key=bench-fpm-key
sub=$(free_port); pub=$(free_port); fport=$(free_port)
start_owner() {
  BXPUSH_LOG=warn taskset -c 0 "$BIN" serve --listen-sub 127.0.0.1:$sub --listen-pub 127.0.0.1:$pub \
    --listen-php "$tmp/php.sock" --signature-key $key >/dev/null 2>&1 &
  owner=$!
  for _ in $(seq 100); do [ -S "$tmp/php.sock" ] && return; sleep 0.05; done
}
cat >"$tmp/fpm.conf" <<CONF
[global]
pid = $tmp/fpm.pid
error_log = $tmp/fpm.log
daemonize = no
[bench]
user = root
group = root
listen = 127.0.0.1:$fport
pm = static
pm.max_children = 1
php_admin_value[bxpush.server] = $tmp/php.sock
php_admin_value[bxpush.spool_dir] = $tmp/spool
php_admin_value[bxpush.signature_key] = $key
php_admin_value[bxpush.flush_timeout_ms] = 200
CONF
start_owner
taskset -c 1 "$FPM" -n -d "extension=$(realpath "$SO")" -y "$tmp/fpm.conf" -R -F &
fpm=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$fport) 2>/dev/null && break; sleep 0.05; done
channel=$(printf 'bench-fpm-%s' "$$" | md5sum | cut -c1-32)
request() {
  SCRIPT_FILENAME=$(realpath scripts/bench-php-fpm.php) SCRIPT_NAME=/bench.php REQUEST_METHOD=GET \
    QUERY_STRING="n=$N&channel=$channel" cgi-fcgi -bind -connect 127.0.0.1:$fport | sed -n '/^{/p'
}
up=$(request)
kill "$owner"; wait "$owner" 2>/dev/null || true; owner=""
down=$(request)
field() { php -r '$j=json_decode($argv[1],true); echo number_format($j[$argv[2]][$argv[3]]/1000, 2);' "$1" "$2" "$3"; }
{
  printf '### send() in a php-fpm worker\n\n'
  printf 'php-fpm8.2 with one static worker (CPU 1), owner `bxpush serve --listen-php` (CPU 0), %d timed calls per form after 50 warm-up calls, each timed with `hrtime`. Reproduce: `scripts/bench-php-fpm.sh target/release/bxpush OUT.md`.\n\n' "$N"
  printf '| call | owner running: median | p99 | owner stopped: median | p99 |\n|---|---|---|---|---|\n'
  printf '| `BxPush\\publish($channel, $message)` | %s µs | %s µs | %s µs | %s µs |\n' \
    "$(field "$up" publish median_ns)" "$(field "$up" publish p99_ns)" "$(field "$down" publish median_ns)" "$(field "$down" publish p99_ns)"
  printf '| `(new Push(1))->setMessage($message)->send()` | %s µs | %s µs | %s µs | %s µs |\n' \
    "$(field "$up" push_send median_ns)" "$(field "$up" push_send p99_ns)" "$(field "$down" push_send median_ns)" "$(field "$down" push_send p99_ns)"
} >"$OUT"
cat "$OUT"
