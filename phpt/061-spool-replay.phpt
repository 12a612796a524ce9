--TEST--
Owner down: sends are spooled to bxpush.spool_dir (created if missing) and replayed when it is back
--INI--
bxpush.signature_key=test-signature-key
bxpush.flush_timeout_ms=300
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$tmp = bx_tmpdir('spool');
ini_set('bxpush.server', "$tmp/php.sock");
ini_set('bxpush.spool_dir', "$tmp/spool/deeper");
$t = microtime(true);
for ($i = 1; $i <= 20; $i++) {
    BxPush\publish(bx_user_private(1), ['module_id' => 'im', 'command' => 'n', 'params' => ['i' => $i]]);
}
$f = BxPush\flush(300);
var_dump($f['complete']);
var_dump(microtime(true) - $t < 2.0);
var_dump(is_dir("$tmp/spool/deeper"), count(glob("$tmp/spool/deeper/*")) > 0);
$owner = bx_owner_start("$tmp/php.sock", "$tmp/data");
// the forwarder reconnects (back-off at most 2 s) and replays the spool
$got = [];
for ($i = 0; $i < 50 && count($got) < 20; $i++) {
    BxPush\flush(200);
    $got = bx_fetch($owner, bx_user_channels(1));
    usleep(100000);
}
echo implode(',', array_map(fn($g) => $g['message']['params']['i'], $got)), "\n";
bx_owner_stop($owner);
bx_rmdir($tmp);
?>
--EXPECT--
bool(false)
bool(true)
bool(true)
bool(true)
1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20
