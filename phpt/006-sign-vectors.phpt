--TEST--
sign_channel / sign_public_channel / signature: the spec's test vectors (§11.2)
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
$private = 'f6fcf2d5d6c2764e292968f0d64b7530';
$public = 'a387b57cd8cea2596fae4294fbe0f536';
$shared = '975e31775df2c33d6d4fb51adc683a5c';
echo BxPush\sign_channel($private, $public), "\n";
echo BxPush\sign_public_channel($public), "\n";
echo BxPush\sign_channel($shared), "\n";
echo BxPush\sign_channel($private), "\n";
echo BxPush\signature($private), "\n";
echo BxPush\signature(''), "\n";
ini_set('bxpush.signature_algo', 'sha256');
echo BxPush\sign_channel($private, $public), "\n";
// Bitrix's own default key (§11.1)
ini_set('bxpush.signature_algo', 'sha1');
ini_set('bxpush.signature_key', '89133c4cb836aa3c5c505be2ad09cb6dc3d5695fc300f28ac5409d955146286b596d3151b4dbd983a7ecedcfde8e9f7e8e14e7ec173a2d8c977f90772fb1ba42');
echo BxPush\sign_channel('8680edaa12e9f584f47a914dab468f73', 'a6739704597e02c9c953710326d72123'), "\n";
echo BxPush\sign_public_channel('a6739704597e02c9c953710326d72123'), "\n";
?>
--EXPECT--
f6fcf2d5d6c2764e292968f0d64b7530:a387b57cd8cea2596fae4294fbe0f536.a4d601da975bea990483c3fb4c8b69e6ee19da16
a387b57cd8cea2596fae4294fbe0f536.f59a1bc80c528413971b90120368aa438b7e7f30
975e31775df2c33d6d4fb51adc683a5c.93ee02640500ee17c911d0093c5dbf55778ce25e
f6fcf2d5d6c2764e292968f0d64b7530.b3b9f55bef5e76a5b540da5cc11de4cef6fe2559
b3b9f55bef5e76a5b540da5cc11de4cef6fe2559
9cfa369dad0099bfd9efe253036fbefcf881ca04
f6fcf2d5d6c2764e292968f0d64b7530:a387b57cd8cea2596fae4294fbe0f536.80c26a3e7fecca421b5fe6c72beb0597e1b27816c409de079b421dcde48c22a0
8680edaa12e9f584f47a914dab468f73:a6739704597e02c9c953710326d72123.561cbc85d4dd7d4aaf8d5980c3be8572461cc91d
a6739704597e02c9c953710326d72123.8b210dc671d267c9cdb6ff89e4f33a51e2756d26
