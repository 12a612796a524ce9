<?php
// Cost of publishing one message from PHP: BxPush\publish() (the extension's hand-off to
// the bxpush owner process) against one HTTP POST to /bitrix/pub/ per flush (what the
// pull module does: a new connection per flush). Used by scripts/bench-php.sh.
//
//   php -d extension=… bench-php.php MODE N PUB_ADDR CHANNEL
//   MODE: send | post | build (the message alone, a baseline); prints one JSON line: per-call nanoseconds (median, p99, mean).

[$mode, $n, $pub, $channel] = [$argv[1], (int)$argv[2], $argv[3], $argv[4]];

function message(int $i): array
{
    // About 200 bytes of JSON, shaped like a pull module event.
    return ['module_id' => 'bench', 'command' => 'php', 'params' => ['i' => $i, 'text' => str_repeat('x', 110)],
        'extra' => ['server_time_unix' => microtime(true), 'revision_web' => 19]];
}

function post(string $pub, string $channel, string $body): void
{
    $s = stream_socket_client("tcp://$pub", $errno, $errstr, 2);
    if (!$s) {
        throw new RuntimeException("connect $pub: $errstr");
    }
    fwrite($s, "POST /bitrix/pub/?CHANNEL_ID=$channel HTTP/1.1\r\nHost: $pub\r\nMessage-Expiry: 86400\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " . strlen($body)
        . "\r\nConnection: close\r\n\r\n" . $body);
    $resp = stream_get_contents($s);
    fclose($s);
    if (!str_starts_with($resp, 'HTTP/1.1 200')) {
        throw new RuntimeException('publish failed: ' . substr($resp, 0, 80));
    }
}

$once = match ($mode) {
    'send' => fn(int $i) => BxPush\publish($channel, message($i)),
    'post' => fn(int $i) => post($pub, $channel, json_encode(message($i), JSON_UNESCAPED_UNICODE)),
    // Baseline: building the message alone (part of both of the above).
    'build' => fn(int $i) => message($i),
};

// Warm up (first send starts the forwarder thread; first POST warms the stack).
for ($i = 0; $i < min(100, $n); $i++) {
    $once($i);
}
if ($mode === 'send') {
    BxPush\flush(5000);
}
$t = [];
$t0 = hrtime(true);
for ($i = 0; $i < $n; $i++) {
    $a = hrtime(true);
    $once($i);
    $t[] = hrtime(true) - $a;
}
$flush = 0;
if ($mode === 'send') {
    $a = hrtime(true);
    $f = BxPush\flush(10000);
    $flush = hrtime(true) - $a;
    if (!$f['complete']) {
        fwrite(STDERR, "flush incomplete: {$f['report']}\n");
        exit(1);
    }
}
$total = hrtime(true) - $t0;
sort($t);
$count = count($t);
echo json_encode([
    'mode' => $mode,
    'n' => $count,
    'median_ns' => $count ? $t[intdiv($count, 2)] : 0,
    'p99_ns' => $count ? $t[min($count - 1, (int)floor($count * 0.99))] : 0,
    'mean_ns' => $count ? intdiv(array_sum($t), $count) : 0,
    'flush_ns' => $flush,
    'total_ns' => $total,
]), "\n";
