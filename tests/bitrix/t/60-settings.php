<?php
// The settings page's logic without a browser (the browser test is
// tests/bitrix/browser/settings-page.test.mjs), on a stand-in site with bxpush.pull installed by
// its installer, against a real `bxpush serve`:
//   form checks (each bad field answered with a message naming the fix, in en and ru), a save
//   writes only what changed, bumps the clients' config and keeps the health agent quiet;
//   status through the extension (up, extension missing, runtime down); the bounded error log
//   without the key; options.php as settings.php runs it (render, CSRF, rights, redirect after
//   save); the AJAX actions' prefilters and rights; the test event reaching the admin's channel,
//   and spooled while the runtime is down.
require __DIR__ . '/../lib/testlib.php';

use BxTest\Serve;
use BxTest\T;
use function BxTest\{db, history, hit, sign, site, tmpdir};

$dir = tmpdir('settings');
$KEY = 'settings-test-key-0123456789abcdefABCDEF';
$serve = (new Serve($dir, $KEY))->start();
$root = site("$dir/site", ['server_name' => '127.0.0.1']);
$ext = ['serve' => $serve, 'spool' => "$dir/spool"];
$codes = fn (array $r) => array_column($r['errors'] ?? [], 'code');
$messageOf = function (array $r, string $code): string {
    foreach ($r['errors'] ?? [] as $e) {
        if ($e['code'] === $code) {
            return $e['message'];
        }
    }
    return '';
};

$r = hit($root, 'module.php', ['action' => 'install', 'request' => ['step' => 2, 'path_to_publish' => $serve->publishUrl()]], $ext);
T::ok($r['installed_after'] === true, 'bxpush.pull installed by its installer', T::show($r));

// ---- form checks --------------------------------------------------------------------------
$r = hit($root, 'settings.php', ['op' => 'validate', 'values' => []], $ext);
T::ok($r['ok'] === true, 'the values install wrote pass the settings form', T::show($r));

$bad = [
    'path_to_modern_listener' => '',
    'path_to_modern_listener_secure' => 'http://example.com/bitrix/sub/',
    'path_to_websocket' => 'http://example.com/bitrix/subws/',
    'path_to_publish' => 'http://#DOMAIN#/bitrix/pub/',
    'path_to_publish_web' => 'http://exa mple.com/bitrix/rest/',
    'signature_key' => 'short',
    'signature_algo' => 'md5',
    'test_timeout' => '0',
];
$r = hit($root, 'settings.php', ['op' => 'validate', 'values' => $bad], $ext);
$got = $codes($r);
sort($got);
$want = array_keys($bad);
sort($want);
T::eq($want, $got, 'every bad field is reported, and only those');
T::ok(str_contains($messageOf($r, 'path_to_modern_listener'), 'http://#DOMAIN#/bitrix/sub/'), 'empty listener: the message gives an example');
T::ok(str_contains($messageOf($r, 'path_to_modern_listener_secure'), 'https://'), 'secure listener must be https://');
T::ok(str_contains($messageOf($r, 'path_to_websocket'), 'ws://, wss://'), 'WebSocket must be ws:// or wss://', $messageOf($r, 'path_to_websocket'));
T::ok(str_contains($messageOf($r, 'path_to_publish'), '#DOMAIN# is not replaced'), 'publish with #DOMAIN#: says PHP uses it verbatim');
T::ok(str_contains($messageOf($r, 'signature_key'), 'Generate'), 'short key: points at "Generate"', $messageOf($r, 'signature_key'));
T::ok(str_contains($messageOf($r, 'test_timeout'), 'from 3 to 120'), 'timeout: gives the range');

$r = hit($root, 'settings.php', ['op' => 'validate', 'values' => ['signature_key' => str_repeat('a', 40) . '"x']], $ext);
T::eq(['signature_key'], $codes($r), 'a key with a quote is refused (it would break the php.ini line)');
$other = 'Another-valid-key-0123456789abcdefghijklmn';
$r = hit($root, 'settings.php', ['op' => 'validate', 'values' => ['signature_key' => $other]], $ext);
$m = $messageOf($r, 'signature_key');
T::ok(str_contains($m, 'bxpush.signature_key') && str_contains($m, 'php.ini') && str_contains($m, 'bxpush serve') && !str_contains($m, $other) && !str_contains($m, $KEY),
    'a key the extension does not use: refused, naming php.ini and bxpush serve, without printing a key', $m);
$r = hit($root, 'settings.php', ['op' => 'validate', 'values' => ['signature_algo' => 'sha256']], $ext);
T::ok(str_contains($messageOf($r, 'signature_algo'), '--signature-algo sha256'), 'an algorithm the extension does not use: refused, naming the flag');
$r = hit($root, 'settings.php', ['op' => 'validate', 'values' => $bad], $ext + ['lang' => 'ru']);
T::ok(count($r['errors'] ?? []) === count($bad) && !array_filter($r['errors'], fn ($e) => !preg_match('/\p{Cyrillic}/u', $e['message'])),
    'in Russian: every message is Russian', T::show($r['errors'] ?? null));
$r = hit($root, 'settings.php', ['op' => 'validate', 'values' => ['signature_key' => $other]], ['ext' => false]);
T::ok($r['ok'] === true, 'without the extension any well-formed key is accepted (HTTP-only site)', T::show($r));

// ---- save ---------------------------------------------------------------------------------
$before = db($root);
$r = hit($root, 'settings.php', ['op' => 'save', 'values' => $bad], $ext);
T::ok($r['ok'] === false && db($root)['b_option'] === $before['b_option'], 'a refused save writes nothing');

$listener = 'http://push.example.com/bitrix/sub/';
$r = hit($root, 'settings.php', ['op' => 'save', 'values' => ['path_to_modern_listener' => $listener, 'test_timeout' => '7']], $ext);
$db = db($root);
T::eq(['path_to_modern_listener', 'test_timeout'], $r['changed'] ?? null, 'a save writes only the changed options');
T::eq($listener, $db['b_option']['pull']['path_to_modern_listener'] ?? null, 'pull:path_to_modern_listener saved');
T::eq('7', $db['b_option']['bxpush.pull']['test_timeout'] ?? null, 'bxpush.pull:test_timeout saved');
T::ok((int)$r['config_timestamp'] > (int)$before['b_option']['pull']['config_timestamp'], 'a pull change bumps config_timestamp (clients reload the config)', $r['config_timestamp'] . ' vs ' . $before['b_option']['pull']['config_timestamp']);
T::eq($listener, $r['written']['path_to_modern_listener'] ?? null, 'what the health agent compares with follows the save');
T::eq([], $r['drift'], 'so the agent sees no drift');
T::eq($before['b_option']['bxpush.pull']['pull_snapshot'], $db['b_option']['bxpush.pull']['pull_snapshot'], 'install\'s snapshot (what uninstall restores) is untouched');

// ---- status -------------------------------------------------------------------------------
$st = hit($root, 'settings.php', ['op' => 'status'], $ext);
T::ok(($st['runtime']['reachable'] ?? null) === true && is_int($st['runtime']['connections']['websocket'] ?? null)
    && is_int($st['runtime']['messagesToday'] ?? null) && is_int($st['runtime']['badRequests'] ?? null), 'status: the runtime answers with its figures', T::show($st));
T::eq($serve->sock, $st['extension']['server'] ?? null, 'status: runtime address = bxpush.server');
T::eq([], $st['problems'] ?? null, 'status: no problems on a healthy site');
T::ok(($st['pull']['shim'] ?? null) === true && ($st['pull']['keyMatches'] ?? null) === true, 'status: sends go through the shim, keys match');
T::ok(!str_contains(json_encode($st), $KEY), 'status carries no key');
$st = hit($root, 'settings.php', ['op' => 'status'], ['ext' => false]);
T::ok(in_array('NO_EXTENSION', array_column($st['problems'] ?? [], 'code'), true), 'status without the extension: says to load it', T::show($st['problems'] ?? null));
T::ok(($st['runtime']['via'] ?? '') === 'http' && ($st['runtime']['reachable'] ?? null) === true && is_int($st['runtime']['connections']['total'] ?? null),
    'status without the extension: the figures come over HTTP from /server-stat/ next to the publish URL', T::show($st['runtime'] ?? null));

// ---- error log ----------------------------------------------------------------------------
$r = hit($root, 'settings.php', ['op' => 'errorlog', 'n' => 25], $ext);
T::ok(count($r['all']) === 20 && str_starts_with($r['all'][0]['message'], 'failure 24') && str_starts_with($r['all'][19]['message'], 'failure 5'),
    'error log keeps the last 20, newest first', T::show(array_column($r['all'], 'message')));
T::ok(!str_contains(json_encode($r['all']), $KEY) && str_contains($r['all'][0]['message'], '***'), 'error log cuts the key out');
$st = hit($root, 'settings.php', ['op' => 'status'], $ext);
T::eq(20, count($st['errors'] ?? []), 'status lists the recent errors');

// ---- the page -----------------------------------------------------------------------------
$r = hit($root, 'settings.php', ['op' => 'page', 'admin' => true], $ext);
$html = $r['html'] ?? '';
T::ok(str_contains($html, 'id="bxpush-send-test"') && str_contains($html, 'name="signature_key"') && str_contains($html, 'value="' . $listener . '"')
    && str_contains($html, 'bxpush_pull_tabs_active_tab') && str_contains($html, 'name="sessid"'), 'options.php renders the tabs, the form and the test button', substr($html, 0, 500));
T::ok(str_contains($html, '--signature-key ' . substr($KEY, 0, 4) . '•') && str_contains($html, 'bxpush.signature_key = &quot;' . substr($KEY, 0, 4) . '•'),
    'the flag and php.ini lines are masked');
$r = hit($root, 'settings.php', ['op' => 'page', 'admin' => true, 'request' => ['Update' => 'Save', 'test_timeout' => '9'], 'sessid' => false], $ext);
T::ok($r['redirect'] === null && str_contains($r['html'], 'session expired') && (db($root)['b_option']['bxpush.pull']['test_timeout'] ?? '') === '7',
    'a save without a valid sessid is refused and writes nothing');
$r = hit($root, 'settings.php', ['op' => 'page', 'admin' => true, 'request' => ['Update' => 'Save', 'test_timeout' => '9', 'bxpush_pull_tabs_active_tab' => 'bxpush_connection']], $ext);
T::eq('/bitrix/admin/settings.php?mid=bxpush.pull&lang=en&saved=Y&bxpush_pull_tabs_active_tab=bxpush_connection', $r['redirect'], 'a valid save redirects back to the page (post/redirect/get)');
T::eq('9', db($root)['b_option']['bxpush.pull']['test_timeout'] ?? null, 'and saved');
$r = hit($root, 'settings.php', ['op' => 'page', 'admin' => true, 'request' => ['Update' => 'Save', 'signature_key' => $other]], $ext);
T::ok($r['redirect'] === null && str_contains($r['html'], 'not saved') && str_contains($r['html'], 'differs from bxpush.signature_key'), 'a refused save shows why');
$r = hit($root, 'settings.php', ['op' => 'page', 'admin' => true], $ext + ['user' => 2, 'env' => ['BX_STANDIN_USER_ADMIN' => '0']]);
T::ok(str_contains($r['html'], 'Access denied') && !str_contains($r['html'], 'name="signature_key"'), 'a user without the module right sees no settings');
hit($root, 'settings.php', ['op' => 'option', 'module' => 'bxpush.pull', 'name' => 'GROUP_DEFAULT_RIGHT', 'value' => 'R'], $ext);
$r = hit($root, 'settings.php', ['op' => 'page', 'admin' => true], $ext + ['user' => 2, 'env' => ['BX_STANDIN_USER_ADMIN' => '0']]);
T::ok(str_contains($r['html'], 'id="bxpush-send-test"') && str_contains($r['html'], 'name="signature_key" id="bxpush_signature_key" value=""')
    && !str_contains($r['html'], substr($KEY, 0, 12)) && !str_contains($r['html'], '--signature-key ' . substr($KEY, 0, 4)),
    'a user with right R sees the status but not the key', substr($r['html'], strpos($r['html'], 'signature_key') ?: 0, 300));
$r = hit($root, 'settings.php', ['op' => 'page', 'admin' => true, 'request' => ['Update' => 'Save', 'test_timeout' => '11']], $ext + ['user' => 2, 'env' => ['BX_STANDIN_USER_ADMIN' => '0']]);
T::ok($r['redirect'] === null && str_contains($r['html'], 'needs the module right') && (db($root)['b_option']['bxpush.pull']['test_timeout'] ?? '') === '9',
    'a user with right R cannot save');
hit($root, 'settings.php', ['op' => 'option', 'module' => 'bxpush.pull', 'name' => 'GROUP_DEFAULT_RIGHT', 'value' => 'D'], $ext);

// ---- AJAX actions -------------------------------------------------------------------------
$ajax = fn (string $action, array $request = [], array $a = [], array $o = []) => hit($root, 'settings.php', ['op' => 'ajax', 'action' => $action, 'request' => $request] + $a, $ext + $o);
$r = $ajax('bxpush:pull.settings.status');
T::ok(($r['status'] ?? '') === 'success' && ($r['data']['runtime']['reachable'] ?? null) === true, 'bxpush:pull.settings.status answers the status', T::show($r));
$r = $ajax('bxpush:pull.settings.status', [], ['method' => 'GET']);
T::eq(['wrong_method'], array_column($r['errors'] ?? [], 'code'), 'status: GET is refused (POST only)');
$r = $ajax('bxpush:pull.settings.status', [], ['sessid' => false]);
T::eq(['invalid_csrf'], array_column($r['errors'] ?? [], 'code'), 'status: no CSRF token, refused');
$r = $ajax('bxpush:pull.settings.sendTest', ['nonce' => 'abcdef123456'], [], ['user' => 2, 'env' => ['BX_STANDIN_USER_ADMIN' => '0']]);
T::eq(['ACCESS_DENIED'], array_column($r['errors'] ?? [], 'code'), 'sendTest: a user without the right is refused');
$r = $ajax('bxpush:pull.settings.sendTest', ['nonce' => 'no!']);
T::eq(['BAD_NONCE'], array_column($r['errors'] ?? [], 'code'), 'sendTest: a bad nonce is refused');

$nonce = 'n' . bin2hex(random_bytes(8));
$r = $ajax('bxpush:pull.settings.sendTest', ['nonce' => $nonce]);
T::ok(($r['status'] ?? '') === 'success' && ($r['data']['delivered'] ?? null) === true && ($r['data']['shim'] ?? null) === true && is_int($r['data']['sent'] ?? null),
    'sendTest: handed over through the shim', T::show($r));
$channel = null;
foreach (db($root)['b_pull_channel'] ?? [] as $row) {
    if ((int)$row['USER_ID'] === 1 && $row['CHANNEL_TYPE'] === 'private') {
        $channel = $row['CHANNEL_ID'];
    }
}
$texts = $channel ? array_map(fn ($e) => $e['json']['text'] ?? null, history($serve, sign($channel, $KEY))) : [];
$test = array_values(array_filter($texts, fn ($t) => ($t['module_id'] ?? '') === 'bxpush.pull' && ($t['command'] ?? '') === 'test'));
T::ok(count($test) === 1 && $test[0]['params']['nonce'] === $nonce && $test[0]['params']['sent'] === $r['data']['sent'],
    'the test event is in the admin\'s private channel with its nonce and timestamp', T::show($texts));

// ---- runtime down -------------------------------------------------------------------------
$serve->stop();
$st = hit($root, 'settings.php', ['op' => 'status'], $ext);
$down = array_values(array_filter($st['problems'] ?? [], fn ($p) => $p['code'] === 'RUNTIME_DOWN'));
T::ok(($st['runtime']['reachable'] ?? null) === false && count($down) === 1 && str_contains($down[0]['message'], '--listen-php ' . $serve->sock),
    'runtime stopped: status says it does not answer and how to start it', T::show($st['problems'] ?? null));
$st = hit($root, 'settings.php', ['op' => 'status'], ['ext' => false]);
T::ok(in_array('RUNTIME_DOWN_HTTP', array_column($st['problems'] ?? [], 'code'), true), 'runtime stopped, no extension: says the publish address does not answer', T::show($st['problems'] ?? null));
$r = $ajax('bxpush:pull.settings.sendTest', ['nonce' => 'n' . bin2hex(random_bytes(8))]);
T::ok(($r['data']['delivered'] ?? null) === true, 'sendTest with the runtime down: handed over (to the spool)', T::show($r));
$st = hit($root, 'settings.php', ['op' => 'status'], $ext);
T::ok(($st['spool']['files'] ?? 0) >= 1, 'the spool backlog shows the kept event', T::show($st['spool'] ?? null));

T::done();
