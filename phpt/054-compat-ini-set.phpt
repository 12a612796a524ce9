--TEST--
ini_set('bxpush.bitrix_compat', 0) at run time stops the aliasing
--FILE--
<?php
var_dump(ini_set('bxpush.bitrix_compat', '0'));
var_dump(class_exists('CPullStack'));
ini_set('bxpush.bitrix_compat', 'on');
var_dump(class_exists('CPullStack'));
?>
--EXPECT--
string(1) "1"
bool(false)
bool(true)
