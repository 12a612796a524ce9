<?php
// FPM request: publish `count` messages numbered from `start`; message n goes to channel n % 4.
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
