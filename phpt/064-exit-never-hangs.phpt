--TEST--
Exit never hangs: owner unreachable, a worker sends and exits within its flush timeout; nothing is lost
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$tmp = bx_tmpdir('hang');
$t = microtime(true);
[$code, $out] = bx_php('<?php
for ($i = 0; $i < 200; $i++) BxPush\publish("f6fcf2d5d6c2764e292968f0d64b7530", "m$i");
\Bitrix\Pull\Event::add("f6fcf2d5d6c2764e292968f0d64b7530", ["module_id" => "im", "command" => "end"]);
echo "done\n";', ['bxpush.server' => "$tmp/nobody.sock", 'bxpush.spool_dir' => "$tmp/spool", 'bxpush.flush_timeout_ms' => 200]);
echo $out;
var_dump($code, microtime(true) - $t < 5);
// what could not be delivered is in the spool, replayed by the next owner
$owner = bx_owner_start("$tmp/nobody.sock");
ini_set('bxpush.server', "$tmp/nobody.sock");
ini_set('bxpush.spool_dir', "$tmp/spool");
BxPush\publish('f6fcf2d5d6c2764e292968f0d64b7530', 'trigger');   // this worker replays spool files of any worker
$n = 0;
for ($i = 0; $i < 50 && $n < 202; $i++) {
    BxPush\flush(300);
    [, , $body] = bx_http($owner['sub'], 'GET', '/bitrix/sub/?CHANNEL_ID=f6fcf2d5d6c2764e292968f0d64b7530.' . BxPush\signature('f6fcf2d5d6c2764e292968f0d64b7530') . '&mid=' . BX_MID0);
    $n = count(bx_envelopes($body));
    usleep(100000);
}
var_dump($n);
bx_owner_stop($owner);
bx_rmdir($tmp);
?>
--EXPECT--
done
int(0)
bool(true)
int(202)
