<?php
// Sends 'count' events to user 1 through the pull module's API, one flush each
// (Event::add + Event::send), params {p: 'proc', n: start..start+count-1}.
require __DIR__ . '/boot.php';

\Bitrix\Main\Loader::includeModule('pull');
$warnings = 0;
set_error_handler(function ($no) use (&$warnings) {
    if ($no === E_USER_WARNING) {
        $warnings++;
        return true;
    }
    return false;
});
for ($i = 0; $i < (int)$HIT['count']; $i++) {
    \Bitrix\Pull\Event::add(1, ['module_id' => 'bxpush', 'command' => 'seq', 'params' => ['p' => $HIT['proc'], 'n' => $HIT['start'] + $i], 'expiry' => 3600]);
    \Bitrix\Pull\Event::send();
}
hit_result(['shim' => hit_shim_active(), 'warnings' => $warnings, 'flush' => function_exists('BxPush\\flush') ? BxPush\flush() : null]);
