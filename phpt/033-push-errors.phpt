--TEST--
Push instance API throws BxPush\Exception on bad input
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
function t(callable $f) { try { $f(); echo "ok\n"; } catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; } }
t(fn() => (new BxPush\Compat\Push(1))->send());
t(fn() => (new BxPush\Compat\Push())->setMessage(['module_id' => 'im', 'command' => 'x'])->send());
t(fn() => (new BxPush\Compat\Push(1))->setMessage(['command' => 'x']));
t(fn() => (new BxPush\Compat\Push(1))->setMessage(['module_id' => 'im']));
t(fn() => (new BxPush\Compat\Push(1))->setMessage(['module_id' => 'im', 'push' => ['message' => 'hi']]));
t(fn() => (new BxPush\Compat\Push(1))->setMessage(['module_id' => 'im', 'command' => 'x', 'params' => ['t' => "\xc3\x28"]]));
t(fn() => (new BxPush\Compat\Push(1))->setMessage(['module_id' => 'im', 'command' => 'x', 'params' => ['t' => str_repeat('x', 1 << 20)]]));
t(fn() => new BxPush\Compat\Push('abc'));
t(fn() => new BxPush\Compat\Push(0));
t(fn() => new BxPush\Compat\Push(1.5));
t(fn() => (new BxPush\Compat\Push())->addUser([1, [2]]));
t(fn() => (new BxPush\Compat\Push())->addChannel('zz'));
t(fn() => (new BxPush\Compat\Push(1))->setMessage(['module_id' => 'im', 'command' => 'x', 'expiry' => 'soon']));
t(fn() => (new BxPush\Compat\Push(1))->setChannelType('custom')->setMessage(['module_id' => 'im', 'command' => 'x'])->send());
?>
--EXPECTF--
Push::send(): no message: call setMessage() first
Push::send(): no recipients: call addUser() or addChannel() first
Push::setMessage(): module_id is required (non-empty string)
Push::setMessage(): command is required (non-empty string)
Push::setMessage(): mobile push messages (only `push`, no `command`) are not delivered by bxpush: it carries pull messages only
Push::setMessage(): invalid UTF-8 in the message: json_encode() failed: Malformed UTF-8 characters, possibly incorrectly encoded
Push::setMessage(): message body is %d bytes, over the 1 MiB limit (1048576 bytes) of the push server
Push::__construct(): bad user id "abc": expected an integer
Push::__construct(): bad user id 0: user ids are non-zero integers (the shared channel is CPullStack::AddShared)
Push::__construct(): bad user id float 1.5: expected an integer
Push::addUser(): recipients: nested arrays are not accepted
Push::addChannel(): malformed channel id "zz": expected 32 lowercase hex digits or a signed descriptor (id.signature, private:public.signature)
Push::setMessage(): expiry must be an integer, got "soon"
Push::send(): channel type "custom" has no derived channels (only private and shared): set Event::setChannelResolver()
