--TEST--
Event::add returns false and getLastError() tells why (Bitrix's contract)
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
use BxPush\Compat\Event;
var_dump(Event::getLastError());
$ok = ['module_id' => 'im', 'command' => 'x'];
$cases = [
    [1, ['command' => 'x']],
    [1, ['module_id' => '', 'command' => 'x']],
    [1, ['module_id' => 'im']],
    [1, ['module_id' => 'im', 'push' => ['message' => 'hi']]],
    [1, $ok + ['params' => ['t' => "\xff"]]],
    [1, $ok + ['params' => ['t' => str_repeat('é', 600000)]]],
    ['abc', $ok],
    [[], $ok],
    [0, $ok],
    [[1, null], $ok],
    ['f6fcf2d5d6c2764e292968f0d64b7530.0000000000000000000000000000000000000000', $ok],
    [new stdClass, $ok],
];
foreach ($cases as [$r, $p]) {
    var_dump(Event::add($r, $p));
    echo '  ', Event::getLastError(), "\n";
}
var_dump(Event::add(1, $ok, 'custom'));
echo '  ', Event::getLastError(), "\n";
var_dump(Event::getQueueSize());
ini_set('bxpush.signature_key', '');
var_dump(Event::add(1, $ok));
echo '  ', Event::getLastError(), "\n";
?>
--EXPECTF--
NULL
bool(false)
  module_id is required (non-empty string)
bool(false)
  module_id is required (non-empty string)
bool(false)
  command is required (non-empty string)
bool(false)
  mobile push messages (only `push`, no `command`) are not delivered by bxpush: it carries pull messages only
bool(false)
  invalid UTF-8 in the message: json_encode() failed: Malformed UTF-8 characters, possibly incorrectly encoded
bool(false)
  message body is %d bytes, over the 1 MiB limit (1048576 bytes) of the push server
bool(false)
  bad user id "abc": expected an integer
bool(false)
  no recipients given
bool(false)
  bad user id 0: user ids are non-zero integers (the shared channel is CPullStack::AddShared)
bool(false)
  bad user id null: expected an integer
bool(false)
  channel "f6fcf2d5d6c2764e292968f0d64b7530.0000000000000000000000000000000000000000" has a wrong signature (bxpush.signature_key / bxpush.signature_algo differ from the signer's?)
bool(false)
  bad user id object: expected an integer
bool(false)
  channel type "custom" has no derived channels (only private and shared): set Event::setChannelResolver()
int(0)
bool(false)
  bxpush.signature_key is empty: per-user channels are derived from it, set the same key as the server's --signature-key
