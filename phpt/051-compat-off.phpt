--TEST--
bitrix_compat=0: no Bitrix names, no autoloader; the BxPush\Compat classes remain
--INI--
bxpush.bitrix_compat=0
--FILE--
<?php
var_dump(class_exists('CPullWatch'), class_exists('Bitrix\Pull\Event'), class_exists('BxPush\Compat\Event'));
var_dump(spl_autoload_functions());
?>
--EXPECT--
bool(false)
bool(false)
bool(true)
array(0) {
}
