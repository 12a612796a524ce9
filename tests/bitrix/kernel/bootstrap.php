<?php
// Boots the stand-in Bitrix kernel for one "hit" (a test script, a CLI agent run, a page
// served by `php -S`). Usage, once per process:
//
//   $_SERVER['DOCUMENT_ROOT'] = '/tmp/site';          // or env BX_DOCUMENT_ROOT
//   require '/work/main/tests/bitrix/kernel/bootstrap.php';
//
// Optional, set before the require:
//   $GLOBALS['BX_STANDIN_USER'] = ['ID' => 1, 'ADMIN' => true];   // default; ID 0 = guest
//     (or env BX_STANDIN_USER_ID / BX_STANDIN_USER_ADMIN=0)
//   define('LANGUAGE_ID', 'ru');                 // default: env BX_LANG or 'en'
//   define('ADMIN_SECTION', true);               // an admin page
//   define('BX_STANDIN_NO_PAGE_START', true);    // do not fire main:OnPageStart
//
// It defines the kernel constants, loads every kernel/*.php (this folder's own files first,
// then any other file dropped here, e.g. adminui.php), opens the site's stand-in database
// (<root>/bitrix/.standin/db.json), creates $APPLICATION, $USER, fires main:OnPageStart
// (the persistent handlers of installed modules), and runs the background jobs when the
// script ends, as the kernel does after the response.

if (defined('BX_STANDIN_BOOTED')) {
    return;
}
define('BX_STANDIN_BOOTED', true);

(function () {
    $root = $_SERVER['DOCUMENT_ROOT'] ?? '';
    if ($root === '' && getenv('BX_DOCUMENT_ROOT')) {
        $root = getenv('BX_DOCUMENT_ROOT');
    }
    if ($root === '' || !is_dir($root . '/bitrix')) {
        throw new RuntimeException("stand-in kernel: DOCUMENT_ROOT '$root' is not a document root with a bitrix/ folder (build one with tests/bitrix/kernel/docroot.php)");
    }
    $_SERVER['DOCUMENT_ROOT'] = rtrim(realpath($root), '/');
})();

defined('B_PROLOG_INCLUDED') || define('B_PROLOG_INCLUDED', true);
defined('BX_ROOT') || define('BX_ROOT', '/bitrix');
defined('LANGUAGE_ID') || define('LANGUAGE_ID', getenv('BX_LANG') ?: 'en');
defined('LANG') || define('LANG', LANGUAGE_ID);
defined('SITE_ID') || define('SITE_ID', 's1');
defined('SITE_CHARSET') || define('SITE_CHARSET', 'UTF-8');
defined('BX_UTF') || define('BX_UTF', true);

(function () {
    $own = ['db', 'result', 'options', 'modules', 'events', 'agents', 'notify', 'loc', 'main', 'application', 'http', 'sites'];
    foreach ($own as $f) {
        require_once __DIR__ . "/$f.php";
    }
    foreach (glob(__DIR__ . '/*.php') as $f) {
        $b = basename($f, '.php');
        if (!in_array($b, $own, true) && $b !== 'bootstrap' && $b !== 'docroot') {
            require_once $f;
        }
    }
})();

BxStandin\Db::open($_SERVER['DOCUMENT_ROOT']);
Bitrix\Main\Loader::register();

$APPLICATION = new CMain();
$USER = (function () {
    $u = $GLOBALS['BX_STANDIN_USER'] ?? null;
    if (is_array($u)) {
        return new CUser((int)($u['ID'] ?? 0), (bool)($u['ADMIN'] ?? false));
    }
    $id = getenv('BX_STANDIN_USER_ID');
    return new CUser($id === false ? 1 : (int)$id, getenv('BX_STANDIN_USER_ADMIN') !== '0');
})();
$DB = null;

// The kernel sends the response, then runs the background jobs (pull's queue flush is one).
register_shutdown_function(function () {
    Bitrix\Main\Application::getInstance()->runBackgroundJobs();
});

if (!defined('BX_STANDIN_NO_PAGE_START')) {
    foreach (GetModuleEvents('main', 'OnPageStart', true) as $arEvent) {
        ExecuteModuleEventEx($arEvent);
    }
}
