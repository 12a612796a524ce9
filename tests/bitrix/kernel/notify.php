<?php
// Admin notices (b_admin_notify): Add with a TAG (one row per tag), DeleteByTag, DeleteByModule.

use BxStandin\Db;

class CAdminNotify
{
    public const TYPE_NORMAL = 'M';
    public const TYPE_ERROR = 'E';

    public static function Add($arFields)
    {
        if (empty($arFields['MESSAGE'])) {
            return false;
        }
        return Db::mutate(function (array &$t) use ($arFields) {
            $tag = (string)($arFields['TAG'] ?? '');
            if ($tag !== '') {
                foreach ($t['b_admin_notify'] ?? [] as $id => $n) {
                    if ($n['TAG'] === $tag) {
                        unset($t['b_admin_notify'][$id]);   // the kernel replaces a notice with the same tag
                    }
                }
            }
            $id = Db::nextId($t, 'b_admin_notify');
            $t['b_admin_notify'][$id] = [
                'ID' => $id,
                'MODULE_ID' => (string)($arFields['MODULE_ID'] ?? ''),
                'TAG' => $tag,
                'MESSAGE' => (string)$arFields['MESSAGE'],
                'ENABLE_CLOSE' => ($arFields['ENABLE_CLOSE'] ?? 'Y') === 'N' ? 'N' : 'Y',
                'NOTIFY_TYPE' => (string)($arFields['NOTIFY_TYPE'] ?? self::TYPE_NORMAL),
            ];
            return $id;
        });
    }

    public static function DeleteByTag($tagId)
    {
        Db::mutate(function (array &$t) use ($tagId) {
            foreach ($t['b_admin_notify'] ?? [] as $id => $n) {
                if ($n['TAG'] === (string)$tagId) {
                    unset($t['b_admin_notify'][$id]);
                }
            }
        });
        return true;
    }

    public static function DeleteByModule($moduleId)
    {
        Db::mutate(function (array &$t) use ($moduleId) {
            foreach ($t['b_admin_notify'] ?? [] as $id => $n) {
                if ($n['MODULE_ID'] === (string)$moduleId) {
                    unset($t['b_admin_notify'][$id]);
                }
            }
        });
        return true;
    }

    public static function GetList($arSort = [], $arFilter = [])
    {
        $rows = array_values(array_filter(Db::table('b_admin_notify'), function ($n) use ($arFilter) {
            foreach ($arFilter as $k => $v) {
                if (($n[$k] ?? null) != $v) {
                    return false;
                }
            }
            return true;
        }));
        return new \BxStandin\ArrayResult($rows);
    }
}
