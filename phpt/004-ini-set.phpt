--TEST--
ini_set() changes settings; invalid values are refused
--INI--
bxpush.signature_key=from-ini
--FILE--
<?php
var_dump(ini_get('bxpush.signature_key'));
var_dump(BxPush\signature('x') === hash_hmac('sha1', 'x', 'from-ini'));
var_dump(ini_set('bxpush.signature_key', 'test-signature-key'));
var_dump(BxPush\signature('x') === hash_hmac('sha1', 'x', 'test-signature-key'));
var_dump(ini_set('bxpush.signature_algo', 'sha256'));
var_dump(BxPush\signature('x') === hash_hmac('sha256', 'x', 'test-signature-key'));
echo "refused:\n";
var_dump(ini_set('bxpush.signature_algo', 'md5'));
var_dump(ini_get('bxpush.signature_algo'));
var_dump(ini_set('bxpush.bitrix_compat', 'maybe'));
var_dump(ini_set('bxpush.flush_timeout_ms', 'soon'));
var_dump(ini_set('bxpush.channel_ttl', '0'));
var_dump(ini_set('bxpush.queue_items', '5'));   // INI_SYSTEM
echo "restore:\n";
ini_restore('bxpush.signature_algo');
var_dump(BxPush\signature('x') === hash_hmac('sha1', 'x', 'test-signature-key'));
?>
--EXPECT--
string(8) "from-ini"
bool(true)
string(8) "from-ini"
bool(true)
string(4) "sha1"
bool(true)
refused:
bool(false)
string(6) "sha256"
bool(false)
bool(false)
bool(false)
bool(false)
restore:
bool(true)
