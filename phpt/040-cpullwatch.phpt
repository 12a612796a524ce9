--TEST--
CPullWatch: Add (immediate and deferred), GetUserList, getUsersByTag, Extend, Delete, DeferredSql
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
var_dump(\CPullWatch::Add(1, 'T1', true), \CPullWatch::Add('2', 'T1', true));
var_dump(\CPullWatch::GetUserList('T1'));
var_dump(\CPullWatch::Add(3, 'T1'));            // deferred: not visible yet
var_dump(\CPullWatch::getUsersByTag('T1'));
var_dump(\CPullWatch::DeferredSql());
var_dump(\CPullWatch::getUsersByTag('T1'));
var_dump(\CPullWatch::Extend(4, ['T1', 'T2']), \CPullWatch::getUsersByTag('T2'));
var_dump(\CPullWatch::Delete(1, 'T1'), \CPullWatch::getUsersByTag('T1'));
var_dump(\CPullWatch::Delete(4), \CPullWatch::getUsersByTag('T2'), \CPullWatch::getUsersByTag('T1'));
var_dump(\CPullWatch::Add(5, 'T9'), \CPullWatch::Delete(5, 'T9'), \CPullStack::Send(), \CPullWatch::getUsersByTag('T9'));
var_dump(\CPullWatch::Add(0, 'T1'), \Bitrix\Pull\Event::getLastError());
var_dump(\CPullWatch::Add(1, ''), \Bitrix\Pull\Event::getLastError());
var_dump(\CPullWatch::Add(1, str_repeat('t', 256)), \Bitrix\Pull\Event::getLastError());
BxPush\Server::stop();
?>
--EXPECTF--
bool(true)
bool(true)
array(2) {
  [1]=>
  int(1)
  [2]=>
  int(2)
}
bool(true)
array(2) {
  [0]=>
  int(1)
  [1]=>
  int(2)
}
bool(true)
array(3) {
  [0]=>
  int(1)
  [1]=>
  int(2)
  [2]=>
  int(3)
}
bool(true)
array(1) {
  [0]=>
  int(4)
}
bool(true)
array(3) {
  [0]=>
  int(2)
  [1]=>
  int(3)
  [2]=>
  int(4)
}
bool(true)
array(0) {
}
array(2) {
  [0]=>
  int(2)
  [1]=>
  int(3)
}
bool(true)
bool(true)
bool(true)
array(0) {
}
bool(false)
string(%d) "bad user id 0: user ids are non-zero integers (the shared channel is CPullStack::AddShared)"
bool(false)
string(%d) "empty tag"
bool(false)
string(%d) "tag is 256 bytes, over 255"
