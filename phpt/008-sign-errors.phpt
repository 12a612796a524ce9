--TEST--
Signing errors: no key, malformed ids
--FILE--
<?php
function t(callable $f) {
    try { var_dump($f()); } catch (BxPush\Exception $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
}
t(fn() => BxPush\signature('x'));
t(fn() => BxPush\verify_channel('x'));
t(fn() => BxPush\verify_public_channel('x'));
t(fn() => BxPush\sign_public_channel('a387b57cd8cea2596fae4294fbe0f536'));
ini_set('bxpush.signature_key', 'test-signature-key');
t(fn() => BxPush\sign_channel('F6FCF2D5D6C2764E292968F0D64B7530'));
t(fn() => BxPush\sign_channel('f6fc'));
t(fn() => BxPush\sign_channel('f6fcf2d5d6c2764e292968f0d64b7530', 'nothex'));
t(fn() => BxPush\sign_public_channel('a387b57cd8cea2596fae4294fbe0f536.sig'));
?>
--EXPECT--
BxPush\Exception: BxPush\signature(): bxpush.signature_key is empty: set it to the server's signature key
BxPush\Exception: BxPush\verify_channel(): bxpush.signature_key is empty: set it to the server's signature key
BxPush\Exception: BxPush\verify_public_channel(): bxpush.signature_key is empty: set it to the server's signature key
BxPush\Exception: BxPush\sign_public_channel(): bxpush.signature_key is empty: set it to the server's signature key
BxPush\Exception: BxPush\sign_channel(): channel id "F6FCF2D5D6C2764E292968F0D64B7530" is not a channel id (32 lowercase hex digits)
BxPush\Exception: BxPush\sign_channel(): channel id "f6fc" is not a channel id (32 lowercase hex digits)
BxPush\Exception: BxPush\sign_channel(): public id "nothex" is not a channel id (32 lowercase hex digits)
BxPush\Exception: BxPush\sign_public_channel(): public id "a387b57cd8cea2596fae4294fbe0f536.sig" is not a channel id (32 lowercase hex digits)
