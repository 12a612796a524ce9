<?php
// The Site Checker's Push & Pull test (check_pull_stream) passes against bxpush with the
// options bxpush.pull wrote: an HTTP/1.0 long poll with If-Modified-Since, a text-mode POST of
// the bare token (no Message-Expiry, unsigned CHANNEL_ID) to path_to_publish, and one
// 4096-byte read holding the token.
require __DIR__ . '/../lib/testlib.php';

use BxTest\Serve;
use BxTest\T;
use function BxTest\{hit, site, tmpdir};

$dir = tmpdir('sitecheck');
$KEY = 'sitecheck-test-key-0123456789abcdef';
@mkdir("$dir/serve");
$serve = (new Serve("$dir/serve", $KEY))->start();
$root = site("$dir/site", ['server_name' => 'vectors.test']);
$r = hit($root, 'module.php', ['action' => 'install', 'request' => ['step' => 2, 'path_to_publish' => $serve->publishUrl()]], ['serve' => $serve]);
T::ok($r['installed_after'] === true, 'site installed with the extension');

foreach (['extension' => ['serve' => $serve], 'no extension' => ['ext' => false]] as $what => $o) {
    $r = hit($root, 'sitecheck.php', ['host' => $serve->sub, 'stat' => $serve->pub, 'admin' => true], $o);
    T::eq(['status' => true, 'version' => 4], ['status' => $r['status'] ?? null, 'version' => $r['version'] ?? null], "site checker ($what): server enabled, version 4 (the network test runs)");
    T::ok(str_starts_with($r['listen_url'] ?? '', "http://{$serve->sub}/bitrix/sub/?CHANNEL_ID="), "site checker ($what): listens on path_to_modern_listener with #DOMAIN# replaced", $r['listen_url'] ?? T::show($r));
    T::ok(($r['send'] ?? false) === true, "site checker ($what): the text-mode publish of the bare token is accepted (empty or JSON body)", T::show($r));
    T::ok(($r['token_found'] ?? false) === true, "site checker ($what): the first 4096-byte read of the HTTP/1.0 long poll holds the token", T::show($r));
    T::eq('ok', $r['verdict'] ?? null, "site checker ($what): Push & Pull test passes");
}
T::done();
