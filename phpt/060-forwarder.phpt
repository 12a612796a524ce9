--TEST--
Worker side: sends go through the forwarder to the owner's PHP socket (no runtime in this process)
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$tmp = bx_tmpdir('fw');
$owner = bx_owner_start("$tmp/php.sock");
ini_set('bxpush.server', "$tmp/php.sock");
ini_set('bxpush.spool_dir', "$tmp/spool");
var_dump(BxPush\Server::isRunning());
var_dump(BxPush\publish(bx_user_private(1), ['module_id' => 'im', 'command' => 'direct']));
var_dump(\Bitrix\Pull\Event::add([1, 2], ['module_id' => 'im', 'command' => 'queued']));
var_dump(\CPullWatch::Add(3, 'W', true));
var_dump(\CPullWatch::AddToStack('W', ['module_id' => 'im', 'command' => 'watched']));
(new \Bitrix\Pull\Push(2))->setMessage(['module_id' => 'im', 'command' => 'pushed'])->send();
var_dump(\CPullStack::Send());
$f = BxPush\flush(2000);
var_dump($f['complete']);
var_dump(\CPullWatch::GetUserList('W'));
foreach ([1, 2, 3] as $u) {
    echo "$u: ", implode(',', array_map(fn($g) => $g['message']['command'], bx_fetch($owner, bx_user_channels($u)))), "\n";
}
var_dump(BxPush\channel_stats(bx_user_private(1)));
$s = BxPush\Server::stats();
var_dump($s['hosted'], $s['bxpush']['published']);
$st = BxPush\status();
var_dump($st['forwarder'], $st['hosting'], $st['forwarder_stats']['connected'], $st['forwarder_stats']['acked'] === 5);
ob_start();
(new ReflectionExtension('bxpush'))->info();
$info = ob_get_clean();
echo preg_match('/forwarder connected => yes/', $info), preg_match('/forwarder acked => \d+/', $info), preg_match('/forwarder spooled => 0/', $info), "\n";
[$code, $out] = bx_owner_stop($owner);
var_dump($code);
echo $out;
bx_rmdir($tmp);
?>
--EXPECTF--
bool(false)
int(1)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
array(1) {
  [3]=>
  int(3)
}
1: direct,queued
2: pushed,queued
3: watched
array(1) {
  ["%s"]=>
  bool(true)
}
bool(false)
int(4)
bool(true)
bool(false)
bool(true)
bool(true)
111
int(0)
owner stopped
