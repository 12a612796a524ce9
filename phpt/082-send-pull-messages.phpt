--TEST--
send_pull_messages(): every recorded flush reaches subscribers with the exact bytes the pull module's transport delivers
--SKIPIF--
<?php if (extension_loaded('gmp') || extension_loaded('bcmath')) die('skip needs PHP without gmp and bcmath'); ?>
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
require __DIR__ . '/include/pull-vectors.php';

foreach (pv_cases() as $name => $c) {
    if ($c['php_extension'] !== null) {
        continue; // i2+gmp, i2+bcmath: encoding checked in 081
    }
    $srv = bx_start();
    // Expected per channel, in order: what history replays, and what only a live subscriber gets.
    $stored = $live = [];
    foreach ($c['delivered'] as $d) {
        foreach (array_unique($d['channels']) as $ch) {
            if (($d['expiry'] & 0xffffffff) === 0) {
                $live[$ch][] = $d['body'];
            } else {
                $stored[$ch][] = $d['body'];
            }
        }
    }
    $polls = [];
    foreach ($live as $ch => $_) {
        $polls[$ch] = bx_lp_open($srv, BxPush\sign_channel($ch));
    }
    try {
        $r = BxPush\send_pull_messages($c['messages']);
        $result = "{$r['messages']} messages, {$r['receivers']} receivers, " . count($r['refused']) . ' refused';
    } catch (BxPush\Exception $e) {
        $result = "BxPush\\Exception({$e->getCode()}): {$e->getMessage()}";
    }
    $ok = true;
    $channels = array_unique(array_merge(array_keys($stored), array_keys($live), ...array_map(fn ($e) => $e['channels'] ?? [], array_values($c['messages']))));
    foreach ($channels as $ch) {
        $got = array_column(bx_fetch($srv, BxPush\sign_channel($ch)), 'text');
        if ($got !== ($stored[$ch] ?? [])) {
            $ok = false;
            echo "  $ch: history ", json_encode($got), "\n";
        }
    }
    foreach ($polls as $ch => $s) {
        $got = array_column(bx_lp_read($s), 'text');
        if (($got[0] ?? null) !== $live[$ch][0]) {
            $ok = false;
            echo "  $ch: live ", json_encode($got), "\n";
        }
    }
    echo "$name: $result; ", $ok ? 'delivered exactly' : 'DIFFERENT', "\n";
    BxPush\Server::stop();
}
?>
--EXPECT--
a: 1 messages, 1 receivers, 0 refused; delivered exactly
b: 1 messages, 2 receivers, 0 refused; delivered exactly
c: 2 messages, 3 receivers, 0 refused; delivered exactly
d: 1 messages, 1 receivers, 0 refused; delivered exactly
e1: 1 messages, 2 receivers, 0 refused; delivered exactly
e2: 1 messages, 3 receivers, 0 refused; delivered exactly
f1: 1 messages, 150 receivers, 0 refused; delivered exactly
f2: 1 messages, 150 receivers, 0 refused; delivered exactly
f3: 1 messages, 150 receivers, 0 refused; delivered exactly
f4: 1 messages, 150 receivers, 0 refused; delivered exactly
g: 2 messages, 2 receivers, 0 refused; delivered exactly
h: 1 messages, 1 receivers, 0 refused; delivered exactly
i1: 2 messages, 2 receivers, 0 refused; delivered exactly
i2: BxPush\Exception(2): Negative integers are only supported with GMP or BC (64bit) intextensions.; delivered exactly
k: 2 messages, 2 receivers, 0 refused; delivered exactly
l: 1 messages, 4 receivers, 0 refused; delivered exactly
m: 1 messages, 1 receivers, 0 refused; delivered exactly
j: BxPush\Exception(1): JSON error: Inf and NaN cannot be JSON encoded [7]; delivered exactly
