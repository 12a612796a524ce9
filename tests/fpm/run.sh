#!/usr/bin/env bash
# PHP-FPM torture test of the bxpush extension: a real php-fpm (Debian's php8.2-fpm, its own
# config, loopback), a `bxpush serve --listen-php` owner, a long-poll subscriber, and a
# driver publishing continuously through FPM while workers are recycled (pm.max_requests),
# FPM is reloaded (SIGUSR2) and the owner is restarted (SIGTERM, same data dir).
# Checks: no request failed or hung, 0 messages lost, 0 duplicated, per-channel order kept,
# spool drained. Ends with "N passed, N failed".
#
# Environment: BXPUSH_BIN (default target/release/bxpush), BXPUSH_SO (default
# target/release/libbxpush.so), PHP_FPM (default php-fpm8.2), FPM_REQUESTS (default 300).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/fpm"
BXPUSH_BIN="${BXPUSH_BIN:-$ROOT/target/release/bxpush}"
BXPUSH_SO="${BXPUSH_SO:-$ROOT/target/release/libbxpush.so}"
PHP_FPM="${PHP_FPM:-$(command -v php-fpm8.2 || command -v php-fpm || echo /usr/sbin/php-fpm8.2)}"
REQUESTS="${FPM_REQUESTS:-300}"
PER_REQUEST=4
RELOAD_EVERY=$((REQUESTS / 10))
KEY="fpm-test-key"

PASSED=0; FAILED=0
check() { # check NAME CONDITION-RESULT(0=ok) DETAIL
  if [ "$2" -eq 0 ]; then PASSED=$((PASSED+1)); echo "PASS $1 $3"; else FAILED=$((FAILED+1)); echo "FAIL $1 $3"; fi
}
for f in "$BXPUSH_BIN" "$BXPUSH_SO" "$PHP_FPM"; do
  [ -e "$f" ] || { echo "missing $f"; echo "0 passed, 1 failed"; exit 1; }
done
command -v cgi-fcgi >/dev/null || { echo "missing cgi-fcgi (apt-get install libfcgi-bin)"; echo "0 passed, 1 failed"; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/bxpush-fpm.XXXXXX")"
OWNER_PID=""; FPM_PID=""; SUB_PID=""
cleanup() {
  [ -n "$SUB_PID" ] && kill "$SUB_PID" 2>/dev/null
  [ -n "$FPM_PID" ] && kill -QUIT "$FPM_PID" 2>/dev/null
  [ -n "$OWNER_PID" ] && kill "$OWNER_PID" 2>/dev/null
  sleep 0.5
  [ -n "$FPM_PID" ] && kill -9 "$FPM_PID" 2>/dev/null
  [ -n "$OWNER_PID" ] && kill -9 "$OWNER_PID" 2>/dev/null
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { php -n -r '$s=stream_socket_server("tcp://127.0.0.1:0");$n=stream_socket_get_name($s,false);echo substr($n,strrpos($n,":")+1);'; }
wait_port() { for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
SUB_PORT=$(free_port); PUB_PORT=$(free_port); FPM_PORT=$(free_port)
SOCK="$TMP/php.sock"

start_owner() {
  "$BXPUSH_BIN" serve --listen-sub "127.0.0.1:$SUB_PORT" --listen-pub "127.0.0.1:$PUB_PORT" \
    --listen-php "$SOCK" --data-dir "$TMP/data" --signature-key "$KEY" --long-poll-timeout 2 \
    >>"$TMP/owner.log" 2>&1 &
  OWNER_PID=$!
  wait_port "$SUB_PORT"
}
stop_owner() { kill -TERM "$OWNER_PID"; wait "$OWNER_PID" 2>/dev/null; OWNER_PID=""; }

cat >"$TMP/fpm.conf" <<CONF
[global]
pid = $TMP/fpm.pid
error_log = $TMP/fpm.log
log_level = notice
daemonize = no
process_control_timeout = 5s
[bx]
user = root
group = root
listen = 127.0.0.1:$FPM_PORT
pm = static
pm.max_children = 2
pm.max_requests = 5
request_terminate_timeout = 20s
catch_workers_output = yes
php_admin_value[bxpush.server] = $SOCK
php_admin_value[bxpush.spool_dir] = $TMP/spool
php_admin_value[bxpush.signature_key] = $KEY
php_admin_value[bxpush.flush_timeout_ms] = 200
php_admin_value[error_log] = $TMP/php-errors.log
CONF

fcgi() { # fcgi SCRIPT QUERY -> prints the response; exit status of cgi-fcgi (timeout = hung)
  SCRIPT_FILENAME="$HERE/$1" SCRIPT_NAME="/$1" REQUEST_METHOD=GET QUERY_STRING="$2" \
    timeout 10 cgi-fcgi -bind -connect "127.0.0.1:$FPM_PORT" 2>&1
}
wait_fpm() { # until a request goes through (after start or reload)
  for _ in $(seq 1 100); do
    fcgi publish.php "start=0&count=0" | grep -q '^ok' && return 0; sleep 0.05
  done; return 1
}

start_owner
"$PHP_FPM" -n -d "extension=$BXPUSH_SO" -y "$TMP/fpm.conf" -R -F >>"$TMP/fpm.out" 2>&1 &
FPM_PID=$!
wait_port "$FPM_PORT"; wait_fpm
php -n "$HERE/subscriber.php" "127.0.0.1:$SUB_PORT" "$KEY" "$TMP/received" "$TMP/stop" 2>>"$TMP/sub.log" &
SUB_PID=$!

START=$SECONDS
req_failed=0; max_ms=0; reloads=0; restarts=0; n=1
for r in $(seq 1 "$REQUESTS"); do
  t0=$(date +%s%N)
  out=$(fcgi publish.php "start=$n&count=$PER_REQUEST")
  rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 )); [ "$ms" -gt "$max_ms" ] && max_ms=$ms
  if [ $rc -ne 0 ] || ! grep -q '^ok' <<<"$out"; then
    req_failed=$((req_failed+1)); echo "request $r failed (rc $rc): $(head -c 300 <<<"$out")"
  fi
  n=$((n + PER_REQUEST))
  if [ $((r % RELOAD_EVERY)) -eq 0 ] && [ $reloads -lt 10 ]; then
    kill -USR2 "$FPM_PID"; reloads=$((reloads+1)); sleep 0.2; wait_fpm || echo "fpm did not come back after reload $reloads"
  fi
  if [ "$r" -eq $((REQUESTS / 3)) ] || [ "$r" -eq $((2 * REQUESTS / 3)) ]; then
    stop_owner; restarts=$((restarts+1))
    # keep publishing while the owner is down: workers spool
    for k in 1 2 3 4 5 6; do
      out=$(fcgi publish.php "start=$n&count=$PER_REQUEST") || true
      grep -q '^ok' <<<"$out" || { req_failed=$((req_failed+1)); echo "request failed while owner down: $(head -c 300 <<<"$out")"; }
      n=$((n + PER_REQUEST))
    done
    start_owner
  fi
done
TOTAL=$((n - 1))
# A few more requests start forwarders that replay what recycled workers left in the spool.
for k in 1 2 3 4; do fcgi publish.php "start=0&count=0&flush=1000" >/dev/null; done
for _ in $(seq 1 300); do
  got=$(cut -d' ' -f3 "$TMP/received" 2>/dev/null | sort -u | wc -l)
  [ "$got" -ge "$TOTAL" ] && break
  sleep 0.1
  [ $((_ % 20)) -eq 0 ] && fcgi publish.php "start=0&count=0&flush=500" >/dev/null
done
sleep 1   # anything late (a duplicate) arrives now
touch "$TMP/stop"; kill "$SUB_PID" 2>/dev/null; wait "$SUB_PID" 2>/dev/null; SUB_PID=""
ELAPSED=$((SECONDS - START))

received=$(wc -l <"$TMP/received")
unique=$(cut -d' ' -f3 "$TMP/received" | sort -u | wc -l)
dups=$((received - unique))
lost=$(comm -23 <(seq 1 "$TOTAL" | sort) <(cut -d' ' -f3 "$TMP/received" | sort -u) | wc -l)
order_bad=$(awk '{ if (($2 in last) && $3 <= last[$2]) bad++; last[$2] = $3 } END { print bad + 0 }' "$TMP/received")
recycles=$(grep -c 'exited with code 0' "$TMP/fpm.log" 2>/dev/null || echo 0)
spool_left=$(find "$TMP/spool" -type f -not -name ".*" 2>/dev/null | wc -l)   # .lock stays
final_ms=$( t0=$(date +%s%N); fcgi publish.php "start=0&count=0" >/dev/null; echo $(( ($(date +%s%N) - t0) / 1000000 )) )
warnings=$(grep -ci 'warning\|fatal' "$TMP/php-errors.log" 2>/dev/null || echo 0)

echo "published $TOTAL messages in $REQUESTS+ requests through php-fpm in ${ELAPSED}s"
check "every request answered" $([ "$req_failed" -eq 0 ]; echo $?) "($req_failed failed)"
check "no hung worker (slowest request < 5 s, a final request < 2 s)" $([ "$max_ms" -lt 5000 ] && [ "$final_ms" -lt 2000 ]; echo $?) "(slowest ${max_ms} ms, final ${final_ms} ms)"
check "at least 50 worker recycles (pm.max_requests=5)" $([ "$recycles" -ge 50 ]; echo $?) "($recycles)"
check "10 FPM reloads (SIGUSR2)" $([ "$reloads" -eq 10 ]; echo $?) "($reloads)"
check "owner restarted twice mid-stream" $([ "$restarts" -eq 2 ]; echo $?) "($restarts)"
check "0 messages lost" $([ "$lost" -eq 0 ]; echo $?) "($lost of $TOTAL lost)"
check "0 messages duplicated" $([ "$dups" -eq 0 ]; echo $?) "($dups duplicates, $received received)"
check "per-channel order kept" $([ "$order_bad" -eq 0 ]; echo $?) "($order_bad out of order)"
check "spool drained" $([ "$spool_left" -eq 0 ]; echo $?) "($spool_left files left)"
check "no PHP warnings or fatal errors in workers" $([ "$warnings" -eq 0 ]; echo $?) "($warnings)"
if [ "$FAILED" -ne 0 ]; then
  echo "--- fpm.log (tail)"; tail -20 "$TMP/fpm.log"; echo "--- php errors"; tail -20 "$TMP/php-errors.log" 2>/dev/null
  echo "--- owner.log (tail)"; tail -20 "$TMP/owner.log"; echo "--- subscriber"; cat "$TMP/sub.log"
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
