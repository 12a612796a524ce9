--TEST--
CPullStack::AddByUser / AddByUsers / AddByChannel / AddShared / Send
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
var_dump(\CPullStack::AddByUser(1, ['module_id' => 'im', 'command' => 'u']));
var_dump(\CPullStack::AddByUsers([2, 3], ['module_id' => 'im', 'command' => 'us']));
var_dump(\CPullStack::AddByChannel(bx_user_private(4), ['module_id' => 'im', 'command' => 'ch']));
var_dump(\CPullStack::AddShared(['module_id' => 'main', 'command' => 'everyone']));
var_dump(\CPullStack::AddByUser('x', ['module_id' => 'im', 'command' => 'u']), \Bitrix\Pull\Event::getLastError());
var_dump(\CPullStack::AddByChannel('nope'), \Bitrix\Pull\Event::getLastError());
var_dump(\CPullStack::Send());
foreach ([1, 2, 3, 4, 5] as $u) {
    $cmds = array_map(fn($g) => $g['message']['command'], bx_fetch($srv, bx_user_channels($u)));
    echo "$u: ", implode(',', $cmds), "\n";
}
// the shared message is one message on the shared channel
var_dump(count(bx_fetch($srv, json_decode(BxPush\Config::forUser(1), true)['channels']['shared']['id'])));
BxPush\Server::stop();
?>
--EXPECTF--
bool(true)
bool(true)
bool(true)
bool(true)
bool(false)
string(%d) "bad user id "x": expected an integer"
bool(false)
string(%d) "malformed channel id "nope": %s"
bool(true)
1: u,everyone
2: us,everyone
3: us,everyone
4: ch,everyone
5: everyone
int(1)
