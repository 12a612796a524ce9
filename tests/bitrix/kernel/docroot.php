<?php
// Builds a temporary Bitrix document root for the stand-in kernel:
//   bitrix/modules/main/{include.php, include/prolog_before.php, install/version.php}
//       (each just requires kernel/bootstrap.php, so `require DOCUMENT_ROOT.'/bitrix/modules/main/include/prolog_before.php'` works as on a real site)
//   bitrix/modules/pull/      a copy of tests/bitrix/pull (the stand-in pull module), installed
//   bitrix/.standin/db.json   main option server_name, pull options given, channel id seed
//
// From PHP:  require 'tests/bitrix/kernel/docroot.php'; bx_standin_docroot('/tmp/site', [...]);
// From a shell: php tests/bitrix/kernel/docroot.php /tmp/site [server_name]
//
// $opts: 'server_name' (main option, default 'localhost'), 'pull_options' (name => value
// rows written into b_option for module pull), 'channel_seed' (channel ids are
// md5("<seed>|<type>|<user>"); 'realpull|vectors' gives the ids of pull-transport-vectors.json),
// 'sites' (site ids of b_lang, default just s1), 'pull_site_options' (site => [name => value] rows of b_option_site),
// 'pull' (false: no pull module).

function bx_standin_docroot(string $dir, array $opts = []): string
{
    $kernel = __DIR__;
    $pullSrc = dirname(__DIR__) . '/pull';
    @mkdir($dir . '/bitrix/modules/main/include', 0777, true);
    @mkdir($dir . '/bitrix/modules/main/install', 0777, true);
    @mkdir($dir . '/local/modules', 0777, true);
    $boot = "<?php\nrequire_once " . var_export($kernel . '/bootstrap.php', true) . ";\n";
    file_put_contents($dir . '/bitrix/modules/main/include.php', $boot);
    file_put_contents($dir . '/bitrix/modules/main/include/prolog_before.php', $boot);
    file_put_contents($dir . '/bitrix/modules/main/install/version.php',
        "<?php\n\$arModuleVersion = ['VERSION' => '26.250.0', 'VERSION_DATE' => '2026-01-01 00:00:00'];\n");
    if (($opts['pull'] ?? true) !== false) {
        bx_standin_copy_tree($pullSrc, $dir . '/bitrix/modules/pull');
    }
    $db = [
        'b_module' => ($opts['pull'] ?? true) !== false ? ['pull' => ['ID' => 'pull', 'DATE_ACTIVE' => date('c')]] : [],
        'b_option' => ['main' => ['server_name' => $opts['server_name'] ?? 'localhost']],
        '_standin' => ['channel_seed' => $opts['channel_seed'] ?? ('bxstandin|' . bin2hex(random_bytes(8)))],
    ];
    foreach ($opts['pull_options'] ?? [] as $k => $v) {
        $db['b_option']['pull'][strtolower($k)] = (string)$v;
    }
    foreach ($opts['sites'] ?? [] as $lid) {
        $db['b_lang'][] = ['LID' => $lid, 'DEF' => $lid === 's1' ? 'Y' : 'N', 'ACTIVE' => 'Y', 'NAME' => $lid, 'SERVER_NAME' => ''];
    }
    foreach ($opts['pull_site_options'] ?? [] as $lid => $rows) {
        foreach ($rows as $k => $v) {
            $db['b_option_site']['pull'][$lid][strtolower($k)] = (string)$v;
        }
    }
    @mkdir($dir . '/bitrix/.standin', 0777, true);
    file_put_contents($dir . '/bitrix/.standin/db.json', json_encode($db, JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT));
    return realpath($dir);
}

function bx_standin_copy_tree(string $from, string $to): void
{
    @mkdir($to, 0777, true);
    foreach (scandir($from) as $f) {
        if ($f === '.' || $f === '..') {
            continue;
        }
        is_dir("$from/$f") ? bx_standin_copy_tree("$from/$f", "$to/$f") : copy("$from/$f", "$to/$f");
    }
}

if (PHP_SAPI === 'cli' && isset($argv) && realpath($argv[0]) === __FILE__) {
    if (empty($argv[1])) {
        fwrite(STDERR, "usage: php docroot.php DIR [server_name]\n");
        exit(2);
    }
    echo bx_standin_docroot($argv[1], ['server_name' => $argv[2] ?? 'localhost']), "\n";
}
