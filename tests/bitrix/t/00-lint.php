<?php
// Every PHP file of the module passes `php -l`; every message code a source file asks for
// (Loc::getMessage('…') / GetMessage('…'), or any 'BXPUSH_PULL_…' literal outside the notice
// tags) exists in its own language file in both lang/ru and lang/en (the kernel's lookup
// rule: lang/<lang>/<path of the source file>), except the kernel's MOD_* strings.
require __DIR__ . '/../lib/testlib.php';

use BxTest\T;
use function BxTest\root;

$mod = root() . '/bitrix-module/bxpush.pull';
$files = [];
foreach (new RecursiveIteratorIterator(new RecursiveDirectoryIterator($mod, FilesystemIterator::SKIP_DOTS)) as $f) {
    if ($f->getExtension() === 'php') {
        $files[] = $f->getPathname();
    }
}
sort($files);
$bad = [];
foreach ($files as $f) {
    exec(escapeshellarg(PHP_BINARY) . ' -n -l ' . escapeshellarg($f) . ' 2>&1', $out, $rc);
    if ($rc !== 0) {
        $bad[] = substr($f, strlen($mod) + 1) . ': ' . implode(' ', $out);
    }
    $out = [];
}
T::ok(count($files) > 20 && !$bad, 'php -l passes for all ' . count($files) . ' module files', implode("\n     ", $bad));

// the notice tags are codes of CAdminNotify, not messages
preg_match_all("/=\s*'(BXPUSH_PULL_[A-Z0-9_]+)'/", file_get_contents("$mod/lib/notices.php"), $m);
$tags = $m[1];
T::ok(count($tags) >= 5, 'notice tags found in lib/notices.php (' . count($tags) . ')');

$checked = 0;
foreach ($files as $f) {
    $rel = substr($f, strlen($mod) + 1);
    if (str_starts_with($rel, 'lang/') || $rel === 'lib/notices.php') {
        continue;
    }
    $src = file_get_contents($f);
    preg_match_all("/(?:getMessage|GetMessage)\(\s*'([A-Z0-9_]+)'/", $src, $a);
    preg_match_all("/'(BXPUSH_PULL_[A-Z0-9_]+)'/", $src, $b);
    $codes = array_unique(array_merge($a[1], array_diff($b[1], $tags)));
    $codes = array_filter($codes, fn($c) => !str_starts_with($c, 'MOD_') && !str_starts_with($c, 'MAIN_'));
    if (!$codes) {
        continue;
    }
    foreach (['ru', 'en'] as $lang) {
        $lf = "$mod/lang/$lang/$rel";
        $MESS = [];
        if (is_file($lf)) {
            include $lf;
        }
        $missing = array_values(array_diff($codes, array_keys($MESS)));
        $checked++;
        T::ok(!$missing, "$rel: every message code is in lang/$lang/$rel", 'missing: ' . implode(', ', $missing));
        foreach ($MESS as $k => $v) {
            if (!str_starts_with($k, 'BXPUSH_PULL_')) {
                T::ok(false, "lang/$lang/$rel: key $k has the BXPUSH_PULL_ prefix");
            }
        }
    }
}
T::ok($checked >= 16, "language files checked ($checked)");
T::done();
