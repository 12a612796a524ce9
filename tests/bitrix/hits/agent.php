<?php
// A cron hit: optionally changes pull options first ('set' => [name => value|null]), then
// runs every agent as the kernel does (BxStandin\Agents::run), and reports what ran, this
// module's notices and whether the hit had the shim.
require __DIR__ . '/boot.php';

use Bitrix\Main\Config\Option;

foreach ($HIT['set'] ?? [] as $name => $value) {
    $value === null ? Option::delete('pull', ['name' => $name]) : Option::set('pull', $name, $value);
}
$ran = empty($HIT['no_agents']) ? BxStandin\Agents::run(true) : [];
$notices = [];
foreach (BxStandin\Db::table('b_admin_notify') as $n) {
    if ($n['MODULE_ID'] === 'bxpush.pull') {
        $notices[$n['TAG']] = $n['MESSAGE'];
    }
}
ksort($notices);
hit_result(['ran' => $ran, 'notices' => $notices, 'shim' => hit_shim_active()]);
