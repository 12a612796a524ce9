<?php
// CPullWatch: tag watches (b_pull_watch) and AddToStack = Event::add to the watchers.

use BxStandin\Db;

class CPullWatch
{
    public static function Add($userId, $tag, $immediate = false)
    {
        $channel = CPullChannel::Get((int)$userId);
        if (!$channel) {
            return false;
        }
        Db::mutate(function (array &$t) use ($userId, $tag, $channel) {
            $t['b_pull_watch'][$userId . '|' . $tag] = ['USER_ID' => (int)$userId, 'CHANNEL_ID' => $channel['CHANNEL_ID'], 'TAG' => (string)$tag, 'DATE_CREATE' => time()];
        });
        return true;
    }

    public static function GetUserList($tag)
    {
        $users = [];
        foreach (Db::table('b_pull_watch') as $w) {
            if (in_array($w['TAG'], (array)$tag, true)) {
                $users[$w['USER_ID']] = $w['USER_ID'];
            }
        }
        return $users;
    }

    public static function AddToStack($tag, $parameters, $channelType = 'private')
    {
        $users = self::GetUserList($tag);
        foreach ((array)($parameters['skip_users'] ?? []) as $skip) {
            unset($users[(int)$skip]);
        }
        if (!$users) {
            return false;
        }
        return \Bitrix\Pull\Event::add(array_values($users), $parameters, $channelType);
    }
}
