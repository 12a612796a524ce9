--TEST--
bitrix_compat=1: \Bitrix\Pull\Push, \Bitrix\Pull\Event, \CPullWatch, \CPullStack are aliases of the compat classes
--FILE--
<?php
foreach (['Bitrix\Pull\Push', 'Bitrix\Pull\Event', 'CPullWatch', 'CPullStack'] as $c) {
    var_dump(class_exists($c, false));       // not declared until autoloaded
    var_dump(class_exists($c));              // autoload declares the alias
    echo (new ReflectionClass($c))->getName(), "\n";
}
var_dump(class_exists('\bitrix\pull\EVENT'));       // case-insensitive
var_dump(new \Bitrix\Pull\Push(1) instanceof BxPush\Compat\Push);
var_dump(class_exists('Bitrix\Pull\Other'));        // other names are left to other autoloaders
var_dump(in_array('BxPush\Compat\autoload', array_map(fn($f) => is_string($f) ? $f : '', spl_autoload_functions()), true));
?>
--EXPECT--
bool(false)
bool(true)
BxPush\Compat\Push
bool(false)
bool(true)
BxPush\Compat\Event
bool(false)
bool(true)
BxPush\Compat\CPullWatch
bool(false)
bool(true)
BxPush\Compat\CPullStack
bool(true)
bool(true)
bool(false)
bool(true)
