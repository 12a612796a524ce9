--TEST--
Server::stats: the /server-stat/ object plus hosted and addresses
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
BxPush\publish(bx_user_private(1), ['module_id' => 'im', 'command' => 'ping']);
$s = BxPush\Server::stats();
var_dump($s['hosted'], $s['sub'] === $srv['sub'], $s['pid'] === getmypid());
var_dump(isset($s['limits']['maxPayload']), $s['daily']['messages']['im_ping'] ?? null);
BxPush\Server::stop();
try { BxPush\Server::stats(); } catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; }
?>
--EXPECTF--
bool(true)
bool(true)
bool(true)
bool(true)
int(1)
BxPush\Server::stats(): cannot reach the bxpush server at unix:/run/bxpush/php.sock (bxpush.server): %s
