--TEST--
Inside a Bitrix kernel (\Bitrix\Main\Loader declared) the autoloader does nothing, so Bitrix's own classes win
--FILE--
<?php
namespace Bitrix\Main { class Loader {} }
namespace {
    spl_autoload_register(function ($c) {
        if ($c === 'Bitrix\Pull\Event') { eval('namespace Bitrix\Pull; class Event { const KERNEL = 1; }'); }
    });
    var_dump(class_exists('CPullWatch'));
    var_dump(class_exists('Bitrix\Pull\Event'), defined('Bitrix\Pull\Event::KERNEL'));
}
?>
--EXPECT--
bool(false)
bool(true)
bool(true)
