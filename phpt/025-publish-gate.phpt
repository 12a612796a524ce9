--TEST--
publish(): a channel named twice (a/b/a) gets the message once; $type is a bounded statistics label
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
$a = bx_user_private(1);
$b = bx_user_private(2);
var_dump(BxPush\publish("$a/$b/$a", 'aba'));            // distinct channels
var_dump(BxPush\publish([$a, $a], 'twice'));
foreach (bx_fetch($srv, bx_user_channels(1)) as $g) echo $g['text'], "\n";
// Any $type is accepted; the daily map keeps at most 256 labels (the rest count as "other"),
// and a label that is not ^[a-zA-Z0-9_*-]{1,32}$ counts as "unknown".
BxPush\publish($a, 'long', 0, str_repeat('x', 100000));
for ($i = 0; $i < 10000; $i++) {
    BxPush\publish($b, 'x', 0, "label_$i");
}
$m = BxPush\Server::stats()['daily']['messages'];
var_dump(count($m), $m['unknown'], $m['label_0'], $m['other'], array_sum($m));
BxPush\Server::stop();
?>
--EXPECT--
int(2)
int(1)
aba
twice
int(256)
int(3)
int(1)
int(9746)
int(10003)
