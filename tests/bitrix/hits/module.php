<?php
// The admin's module page: DoInstall or DoUninstall of bxpush.pull (args: 'action' =>
// 'install'|'uninstall', 'request' => the step's form), as partner_modules.php calls them.
require __DIR__ . '/boot.php';

global $APPLICATION;
$m = CModule::CreateModuleObject('bxpush.pull');
$out = ['class' => $m ? get_class($m) : null, 'installed_before' => IsModuleInstalled('bxpush.pull')];
try {
    $out['returned'] = $HIT['action'] === 'uninstall' ? $m->DoUninstall() : $m->DoInstall();
} catch (BxStandin\IncludeAdminFileCalled $e) {
    $out['page'] = basename($e->path);
    $out['output'] = $e->output;
}
$ex = $APPLICATION->GetException();
$out['exception'] = $ex ? $ex->GetString() : null;
$out['installed_after'] = IsModuleInstalled('bxpush.pull');
hit_result($out);
