<?php
// Runs inside a php-fpm worker (scripts/bench-php-fpm.sh): the wall time of one send, timed
// per call with hrtime, for the low-level BxPush\publish() and for the Bitrix instance
// form `(new Push($userId))->setMessage([...])->send()`. Prints one JSON line.
//
// Query: n=<sends per form>&channel=<32 hex>
use Bitrix\Pull\Push;

$n = (int)($_GET['n'] ?? 2000);
$channel = (string)($_GET['channel'] ?? '');

function timed(int $n, callable $once): array
{
    for ($i = 0; $i < 50; $i++) {
        $once($i); // warm-up: the first send starts the forwarder thread
    }
    $t = [];
    for ($i = 0; $i < $n; $i++) {
        $a = hrtime(true);
        $once($i);
        $t[] = hrtime(true) - $a;
    }
    sort($t);
    return ['median_ns' => $t[intdiv($n, 2)], 'p99_ns' => $t[intdiv($n * 99, 100)], 'n' => $n];
}

$message = fn(int $i) => ['module_id' => 'bench', 'command' => 'fpm',
    'params' => ['i' => $i, 'text' => str_repeat('x', 110)]];
$out = [
    'publish' => timed($n, fn(int $i) => BxPush\publish($channel, $message($i))),
    'push_send' => timed($n, fn(int $i) => (new Push(1))->setMessage($message($i))->send()),
    'status' => BxPush\status(),
];
header('Content-Type: application/json');
echo json_encode($out), "\n";
