--TEST--
verify_channel / verify_public_channel
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
$pair = 'f6fcf2d5d6c2764e292968f0d64b7530:a387b57cd8cea2596fae4294fbe0f536.a4d601da975bea990483c3fb4c8b69e6ee19da16';
$pub = 'a387b57cd8cea2596fae4294fbe0f536.f59a1bc80c528413971b90120368aa438b7e7f30';
$shared = '975e31775df2c33d6d4fb51adc683a5c.93ee02640500ee17c911d0093c5dbf55778ce25e';
var_dump(BxPush\verify_channel($pair));
var_dump(BxPush\verify_channel($shared));
var_dump(BxPush\verify_public_channel($pub));
echo "false:\n";
var_dump(BxPush\verify_channel(substr($pair, 0, -1) . '7'));    // one digit changed
var_dump(BxPush\verify_channel(strtoupper($shared)));          // uppercase
var_dump(BxPush\verify_channel('975e31775df2c33d6d4fb51adc683a5c'));  // unsigned
var_dump(BxPush\verify_channel($pub));                         // a public signature is not a private one
var_dump(BxPush\verify_public_channel($shared));               // and vice versa
var_dump(BxPush\verify_public_channel('garbage'));
var_dump(BxPush\verify_channel(''));
ini_set('bxpush.signature_key', 'other-key');
var_dump(BxPush\verify_channel($pair));
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
false:
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
