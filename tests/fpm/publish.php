<?php
// FPM request: publish `count` messages numbered from `start`; message n goes to channel n % 4.
// Every request also checks that the Bitrix aliases are declared again in this request
// (they live in the request's class table) and that BxPush\Exception works.
if (!class_exists('CPullStack') || !(new \Bitrix\Pull\Push(1)) instanceof BxPush\Compat\Push) {
    echo "no alias\n";
    exit;
}
try {
    throw new BxPush\Exception('probe', 3);
} catch (BxPush\Exception $e) {
    if ($e->getCode() !== 3) { echo "bad exception\n"; exit; }
}
$start = (int)($_GET['start'] ?? 0);
$count = (int)($_GET['count'] ?? 0);
for ($n = $start; $n < $start + $count; $n++) {
    $c = $n % 4;
    BxPush\publish(md5("fpm-chan-$c"), ['c' => $c, 'seq' => $n, 'pid' => getmypid()]);
}
if (isset($_GET['flush'])) {
    BxPush\flush((int)$_GET['flush']);
}
echo "ok ", getmypid(), "\n";
