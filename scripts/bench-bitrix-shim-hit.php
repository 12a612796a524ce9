<?php
// One hit of the bench site (booted through the stand-in kernel like a page): N pull
// flushes, each Event::add of a case-a-like message to user 1 + Event::send(), timed one by
// one with hrtime. Prints the sorted per-flush wall times (ns) as JSON, then the time the
// extension needed at the end to have everything acknowledged (0 without it).
$_SERVER['DOCUMENT_ROOT'] = getenv('BX_DOCUMENT_ROOT');
$_SERVER['SERVER_NAME'] = 'bench.test';
require $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/main/include/prolog_before.php';

\Bitrix\Main\Loader::includeModule('pull');
$n = (int)getenv('BENCH_N');
$shim = class_exists('Bitrix\\Pull\\ProtobufTransport', false) && defined('Bitrix\\Pull\\ProtobufTransport::BXPUSH_SHIM');
$times = [];
for ($i = 0; $i < $n + 50; $i++) {
    $t0 = hrtime(true);
    \Bitrix\Pull\Event::add(1, ['module_id' => 'im', 'command' => 'test', 'params' => [
        'text' => 'Привет ✓', 'i' => $i, 'nested' => ['level' => 1, 'list' => [1, 'two', ['three' => 3]], 'map' => ['k' => 'v']],
    ], 'expiry' => 120]);
    \Bitrix\Pull\Event::send();
    $dt = hrtime(true) - $t0;
    if ($i >= 50) {   // the first 50 warm up (autoload, first connection)
        $times[] = $dt;
    }
}
$t0 = hrtime(true);
$flush = function_exists('BxPush\\flush') ? BxPush\flush(5000) : null;
$drain = hrtime(true) - $t0;
sort($times);
echo json_encode(['shim' => $shim, 'times' => $times, 'drain_ns' => $drain, 'flush' => $flush]), "\n";
