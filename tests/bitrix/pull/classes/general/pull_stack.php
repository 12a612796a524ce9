<?php
// CPullStack: thin wrappers of Event::add.

class CPullStack
{
    public static function AddByUser($userId, $arMessage, $channelType = 'private')
    {
        return \Bitrix\Pull\Event::add($userId, $arMessage, $channelType);
    }

    public static function AddByUsers($users, $arMessage, $channelType = 'private')
    {
        return \Bitrix\Pull\Event::add($users, $arMessage, $channelType);
    }

    public static function AddByChannel($channelId, $params = [])
    {
        return \Bitrix\Pull\Event::add($channelId, $params);
    }

    public static function AddShared($arMessage, $channelType = 'shared')
    {
        $shared = CPullChannel::GetShared(true, false, $channelType);
        if (!$shared) {
            return false;
        }
        return \Bitrix\Pull\Event::add($shared['CHANNEL_ID'], $arMessage);
    }
}
