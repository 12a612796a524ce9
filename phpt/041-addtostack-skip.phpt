--TEST--
CPullWatch::AddToStack: several tags, skip_users honoured, queued until Send
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
foreach ([1 => 'A', 2 => 'A', 3 => 'B', 4 => 'C'] as $u => $t) \CPullWatch::Add($u, $t, true);
var_dump(\CPullWatch::AddToStack(['A', 'B'], ['module_id' => 'tasks', 'command' => 'comment', 'params' => ['id' => 1], 'skip_users' => [2]]));
var_dump(count(bx_fetch($srv, bx_user_channels(1))));  // queued
var_dump(\CPullStack::Send());
foreach ([1, 2, 3, 4] as $u) echo "$u: ", count(bx_fetch($srv, bx_user_channels($u))), "\n";
var_dump(\CPullWatch::AddToStack('A', ['module_id' => 'x'] ), \Bitrix\Pull\Event::getLastError());
var_dump(\CPullWatch::AddToStack('A', ['module_id' => 'x', 'command' => 'y'], 'shared'), \Bitrix\Pull\Event::getLastError());
var_dump(\CPullWatch::AddToStack('A', ['module_id' => 'x', 'command' => 'y', 'skip_users' => ['bob']]), \Bitrix\Pull\Event::getLastError());
BxPush\Server::stop();
?>
--EXPECTF--
bool(true)
int(0)
bool(true)
1: 1
2: 0
3: 1
4: 0
bool(false)
string(%d) "command is required (non-empty string)"
bool(false)
string(%d) "AddToStack: channel type "shared" is not supported: watchers get private channels"
bool(false)
string(%d) "skip_users: bad user id "bob": expected an integer"
