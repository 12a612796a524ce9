--TEST--
publish(): a string body is sent as is; expiry 0 is live only; type and return value
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
$a = bx_user_private(1); $b = bx_user_private(2);
var_dump(BxPush\publish([$a, $b, $a], '5d41402abc4b2a76b9719d911017c592', 60, 'site_checker'));
var_dump(BxPush\publish("$a/$b", '{"raw":true}'));
$got = bx_fetch($srv, bx_user_channels(2));
foreach ($got as $g) echo $g['text'], "\n";
// expiry 0: not stored, only delivered to who is connected now
var_dump(BxPush\publish($a, 'live-only', 0));
var_dump(count(bx_fetch($srv, bx_user_channels(1))));
$lp = bx_lp_open($srv, bx_user_channels(1));
BxPush\publish($a, 'live-now', 0);
foreach (bx_lp_read($lp) as $g) echo $g['text'], "\n";
$s = BxPush\Server::stats();
var_dump($s['daily']['messages']['site_checker']);
BxPush\Server::stop();
?>
--EXPECT--
int(2)
int(2)
5d41402abc4b2a76b9719d911017c592
{"raw":true}
int(1)
int(2)
live-now
int(1)
