--TEST--
publish(): every bad input throws BxPush\Exception with the reason
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
$ok = 'f6fcf2d5d6c2764e292968f0d64b7530';
function t(...$a) {
    try { BxPush\publish(...$a); echo "sent\n"; } catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; }
}
t('F6FCF2D5D6C2764E292968F0D64B7530', 'x');
t('short', 'x');
t($ok . '.0000000000000000000000000000000000000000', 'x');
t($ok . ':a387b57cd8cea2596fae4294fbe0f536', 'x');
t([$ok, 42], 'x');
t(42, 'x');
t([], 'x');
t('', 'x');
t($ok, 42);
t($ok, str_repeat('a', 1048577));
t($ok, ['text' => str_repeat('a', 1048576)]);
t($ok, "bad \xff utf-8");
t($ok, ['text' => "bad \xff utf-8"]);
t($ok, 'x', -1);
t($ok, str_repeat('a', 1048576));
ini_set('bxpush.signature_key', '');
t($ok . '.b3b9f55bef5e76a5b540da5cc11de4cef6fe2559', 'x');
BxPush\Server::stop();
?>
--EXPECT--
BxPush\publish(): malformed channel id "F6FCF2D5D6C2764E292968F0D64B7530": expected 32 lowercase hex digits or a signed descriptor (id.signature, private:public.signature)
BxPush\publish(): malformed channel id "short": expected 32 lowercase hex digits or a signed descriptor (id.signature, private:public.signature)
BxPush\publish(): channel "f6fcf2d5d6c2764e292968f0d64b7530.0000000000000000000000000000000000000000" has a wrong signature (bxpush.signature_key / bxpush.signature_algo differ from the signer's?)
BxPush\publish(): unsigned channel descriptor "f6fcf2d5d6c2764e292968f0d64b7530:a387b57cd8cea2596fae4294fbe0f536": a private:public pair must be signed
BxPush\publish(): channel ids must be strings, got 42
BxPush\publish(): channels must be a string or an array of strings, got 42
BxPush\publish(): no channel given
BxPush\publish(): no channel given
BxPush\publish(): message must be an array or a string, got 42
BxPush\publish(): message body is 1048577 bytes, over the 1 MiB limit (1048576 bytes) of the push server
BxPush\publish(): message body is 1048587 bytes, over the 1 MiB limit (1048576 bytes) of the push server
BxPush\publish(): invalid UTF-8 in the message body: clients parse it as JSON text
BxPush\publish(): invalid UTF-8 in the message: json_encode() failed: Malformed UTF-8 characters, possibly incorrectly encoded
BxPush\publish(): expiry must be between 0 and 4294967295, got -1
sent
BxPush\publish(): channel "f6fcf2d5d6c2764e292968f0d64b7530.b3b9f55bef5e76a5b540da5cc11de4cef6fe2559" is signed but bxpush.signature_key is empty: cannot verify it
