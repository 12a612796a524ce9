--TEST--
Names the script declared itself stay taken: its own classes are used, the others are still aliased
--FILE--
<?php
namespace Bitrix\Pull {
    class Event { public static function add() { return 'own Event'; } }
}
namespace {
    class CPullWatch { public static function Add() { return 'own CPullWatch'; } }
    echo \Bitrix\Pull\Event::add(), "\n";
    echo \CPullWatch::Add(), "\n";
    echo get_class(new \Bitrix\Pull\Push()), "\n";
    var_dump(class_exists('CPullStack'));
    echo (new ReflectionClass('CPullStack'))->getName(), "\n";
}
?>
--EXPECT--
own Event
own CPullWatch
BxPush\Compat\Push
bool(true)
BxPush\Compat\CPullStack
