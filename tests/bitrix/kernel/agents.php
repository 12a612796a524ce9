<?php
// Agents (notes §4.2): b_agent rows unique by NAME (+ USER_ID), AddAgent's $existError
// pitfall, and a runner that evals NAME the way the kernel does ("$eval_result=" . NAME).

namespace {

    use BxStandin\Db;

    class CAgent
    {
        public static function AddAgent($name, $module = '', $period = 'N', $interval = 86400, $datecheck = '', $active = 'Y', $next_exec = '', $sort = 100, $user_id = false, $existError = true)
        {
            global $APPLICATION;
            $name = trim((string)$name);
            if (strlen($name) <= 2) {
                return false;
            }
            $uid = $user_id === false ? null : (int)$user_id;
            $id = Db::mutate(function (array &$t) use ($name, $module, $period, $interval, $active, $next_exec, $sort, $uid) {
                foreach ($t['b_agent'] ?? [] as $a) {
                    if ($a['NAME'] === $name && $a['USER_ID'] === $uid) {
                        return false;
                    }
                }
                $id = Db::nextId($t, 'b_agent');
                $t['b_agent'][$id] = [
                    'ID' => $id, 'NAME' => $name, 'MODULE_ID' => (string)$module, 'SORT' => (int)$sort,
                    'ACTIVE' => $active === 'N' ? 'N' : 'Y', 'AGENT_INTERVAL' => (int)$interval,
                    'IS_PERIOD' => $period === 'Y' ? 'Y' : 'N', 'USER_ID' => $uid,
                    'NEXT_EXEC' => $next_exec === '' ? time() : (is_numeric($next_exec) ? (int)$next_exec : (strtotime($next_exec) ?: time())),
                    'LAST_EXEC' => null, 'RUNNING' => 'N',
                ];
                return $id;
            });
            if ($id === false && $existError) {
                $APPLICATION->ThrowException(new CAdminException([['id' => 'AGENT_NAME_EXISTS', 'text' => "Agent \"$name\" already exists"]]));
            }
            return $id;
        }

        public static function RemoveAgent($name, $module = '', $user_id = false): void
        {
            Db::mutate(function (array &$t) use ($name, $module, $user_id) {
                foreach ($t['b_agent'] ?? [] as $id => $a) {
                    if ($a['NAME'] === trim($name) && ($module === '' || $a['MODULE_ID'] === $module)
                        && ($user_id === false || $a['USER_ID'] === (int)$user_id)) {
                        unset($t['b_agent'][$id]);
                    }
                }
            });
        }

        public static function RemoveModuleAgents($module): void
        {
            Db::mutate(function (array &$t) use ($module) {
                foreach ($t['b_agent'] ?? [] as $id => $a) {
                    if ($a['MODULE_ID'] === $module) {
                        unset($t['b_agent'][$id]);
                    }
                }
            });
        }

        public static function Update($ID, $arFields)
        {
            return Db::mutate(function (array &$t) use ($ID, $arFields) {
                if (!isset($t['b_agent'][$ID])) {
                    return false;
                }
                $t['b_agent'][$ID] = $arFields + $t['b_agent'][$ID];
                return true;
            });
        }

        public static function Delete($id)
        {
            Db::mutate(function (array &$t) use ($id) {
                unset($t['b_agent'][$id]);
            });
            return true;
        }

        public static function GetList($arOrder = ['ID' => 'DESC'], $arFilter = [])
        {
            $rows = array_values(array_filter(Db::table('b_agent'), function ($a) use ($arFilter) {
                foreach ($arFilter as $k => $v) {
                    if (($a[ltrim($k, '=')] ?? null) != $v) {
                        return false;
                    }
                }
                return true;
            }));
            return new \BxStandin\ArrayResult($rows);
        }
    }
}

namespace BxStandin {

    use Bitrix\Main\Loader;

    final class Agents
    {
        /**
         * Run agents as the kernel does: include MODULE_ID (skip when it fails), eval NAME;
         * an empty result deletes the row, a string replaces NAME; NEXT_EXEC moves on by the
         * interval. $all = true ignores NEXT_EXEC (a test's "10 minutes later").
         * Returns [NAME => result] of what ran.
         */
        public static function run(bool $all = false): array
        {
            if (!defined('BX_CHECK_AGENT_START')) {
                define('BX_CHECK_AGENT_START', true);
            }
            $ran = [];
            foreach (Db::table('b_agent') as $id => $a) {
                if ($a['ACTIVE'] !== 'Y' || (!$all && $a['NEXT_EXEC'] > time())) {
                    continue;
                }
                if ($a['MODULE_ID'] !== '' && $a['MODULE_ID'] !== 'main' && !Loader::includeModule($a['MODULE_ID'])) {
                    continue;
                }
                global $USER, $pPERIOD;
                $savedUser = $USER;
                $USER = null;
                $pPERIOD = $a['AGENT_INTERVAL'];
                $eval_result = '';
                eval('$eval_result=' . $a['NAME']);
                $USER = $savedUser;
                $ran[$a['NAME']] = $eval_result;
                Db::mutate(function (array &$t) use ($id, $a, $eval_result, $pPERIOD) {
                    if (!isset($t['b_agent'][$id])) {
                        return;
                    }
                    if ((string)$eval_result === '') {
                        unset($t['b_agent'][$id]);
                        return;
                    }
                    $t['b_agent'][$id]['NAME'] = $eval_result;
                    $t['b_agent'][$id]['LAST_EXEC'] = time();
                    $t['b_agent'][$id]['NEXT_EXEC'] = ($a['IS_PERIOD'] === 'Y' ? $a['NEXT_EXEC'] : time()) + (int)$pPERIOD;
                });
            }
            return $ran;
        }
    }
}
