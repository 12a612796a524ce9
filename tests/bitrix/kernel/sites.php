<?php
// Sites (b_lang): Bitrix\Main\SiteTable::getList and CSite::GetList over the stand-in's
// table; one site "s1" unless the document root was built with others.

namespace Bitrix\Main {

    use BxStandin\Db;

    class SiteTable
    {
        public static function getList(array $parameters = []): \BxStandin\ArrayResult
        {
            $rows = Db::table('b_lang') ?: [['LID' => 's1', 'DEF' => 'Y', 'ACTIVE' => 'Y', 'NAME' => 'Site', 'SERVER_NAME' => '']];
            $filter = $parameters['filter'] ?? [];
            $rows = array_values(array_filter($rows, function ($r) use ($filter) {
                foreach ($filter as $k => $v) {
                    if (($r[ltrim($k, '=')] ?? null) != $v) {
                        return false;
                    }
                }
                return true;
            }));
            if (!empty($parameters['select'])) {
                $rows = array_map(fn($r) => array_intersect_key($r, array_flip($parameters['select'])), $rows);
            }
            return new \BxStandin\ArrayResult($rows);
        }
    }
}

