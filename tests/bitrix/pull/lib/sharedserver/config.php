<?php

namespace Bitrix\Pull\SharedServer;

use Bitrix\Main\Config\Option;

class Config
{
    public static function setRegistered($isRegistered)
    {
        Option::set('pull', 'registered_on_shared_server', $isRegistered ? 'Y' : 'N');
    }

    public static function isRegistered()
    {
        return Option::get('pull', 'registered_on_shared_server') === 'Y';
    }
}
