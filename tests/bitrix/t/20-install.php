<?php
// Install and uninstall of bxpush.pull on a stand-in site, against a real `bxpush serve`:
// refusals (key mismatch, empty key, algo mismatch, bad URL, no pull module), the exact
// pull options written and the snapshot of the old ones, handlers/agent/notices, the
// config_expire sent to bxpush, uninstall restoring every option exactly (rows and no-rows),
// HTTP-only mode without the extension, and make install-bitrix refusing a non-site.
require __DIR__ . '/../lib/testlib.php';

use BxTest\Serve;
use BxTest\T;
use function BxTest\{db, history, hit, root, sign, site, tmpdir};

$dir = tmpdir('install');
$KEY = 'install-test-key-0123456789abcdef';
$serve = (new Serve($dir, $KEY))->start();

// the site before: some pull options have rows (an old server, now down), others have none
$before = [
    'nginx' => 'Y',
    'nginx_version' => '3',
    'path_to_publish' => 'http://127.0.0.1:9/bitrix/pub/',
    'signature_key' => 'old-site-key',
    'websocket' => 'N',
    'config_timestamp' => '100',
    'exclude_sites' => 'a:0:{}',
];
$root = site("$dir/site", ['server_name' => 'vectors.test', 'channel_seed' => 'realpull|vectors', 'pull_options' => $before]);
$pullBefore = db($root)['b_option']['pull'];

// make install-bitrix: the module is in local/modules; a folder that is no site is refused
T::ok(is_file("$root/local/modules/bxpush.pull/install/index.php"), 'make install-bitrix copies the module to local/modules/bxpush.pull');
exec('make -s -C ' . escapeshellarg(root()) . ' install-bitrix BITRIX_ROOT=' . escapeshellarg("$dir/not-a-site") . ' 2>&1', $out, $rc);
T::ok($rc !== 0 && str_contains(implode("\n", $out), 'bitrix/modules/main/include.php is missing'), 'make install-bitrix refuses a path that is not a document root, naming the missing file', implode("\n", $out));

$ext = ['serve' => $serve];
$form = ['path_to_publish' => $serve->publishUrl()];
$unchanged = function (string $what) use ($root, $pullBefore) {
    $db = db($root);
    T::eq($pullBefore, $db['b_option']['pull'], "$what: pull options unchanged");
    T::ok(!isset($db['b_module']['bxpush.pull']), "$what: module not registered");
    T::ok(!array_filter($db['b_module_to_module'] ?? [], fn($r) => $r['TO_MODULE_ID'] === 'bxpush.pull'), "$what: no handler rows");
    T::ok(!array_filter($db['b_agent'] ?? [], fn($a) => $a['MODULE_ID'] === 'bxpush.pull'), "$what: no agent");
};

// step 1: the form
$r = hit($root, 'module.php', ['action' => 'install', 'admin' => true], $ext);
T::ok(($r['page'] ?? '') === 'step.php' && str_contains($r['output'] ?? '', 'name="path_to_publish"') && str_contains($r['output'], 'value="http://127.0.0.1:9010/bitrix/pub/"'), 'install step 1 shows the form with bxpush serve\'s default publish URL', $r['_stderr'] ?? '');

// refusals
$r = hit($root, 'module.php', ['action' => 'install', 'request' => $form + ['step' => 2, 'signature_key' => 'some-other-key']], $ext);
T::ok($r['page'] === 'step.php' && str_contains((string)$r['exception'], 'bxpush.signature_key') && str_contains((string)$r['exception'], '--signature-key'), 'key entered differs from php.ini: refused, naming bxpush.signature_key and --signature-key', (string)$r['exception'] . $r['_stderr']);
T::ok(!str_contains($r['output'] . $r['exception'], 'some-other-key') && !str_contains($r['output'] . $r['exception'], $KEY), 'the refusal shows no key');
$unchanged('refused (key mismatch)');

$r = hit($root, 'module.php', ['action' => 'install', 'request' => $form + ['step' => 2]], ['ini' => ['bxpush.signature_key' => ''], 'serve' => $serve] + $ext);
T::ok(str_contains(html_entity_decode((string)$r["exception"]), 'bxpush.signature_key = "KEY"') && str_contains((string)$r['exception'], '--signature-key KEY'), 'empty php.ini key: refused, with the php.ini line and the serve flag to set', (string)$r['exception']);
$unchanged('refused (empty key)');

$r = hit($root, 'module.php', ['action' => 'install', 'request' => $form + ['step' => 2, 'signature_algo' => 'sha256']], $ext);
T::ok(str_contains(html_entity_decode((string)$r["exception"]), 'bxpush.signature_algo = "sha256"') && str_contains((string)$r['exception'], '--signature-algo sha256'), 'algorithm differs from php.ini: refused, naming both settings', (string)$r['exception']);

$r = hit($root, 'module.php', ['action' => 'install', 'request' => ['step' => 2, 'path_to_publish' => 'http://#DOMAIN#/bitrix/pub/', 'path_to_websocket' => 'http://x/']], $ext);
T::ok(str_contains((string)$r['exception'], '--listen-pub') && str_contains((string)$r['exception'], 'path_to_websocket'), 'bad URLs: refused, naming each field and an example', (string)$r['exception']);
$unchanged('refused (bad URLs)');

$r = hit($root, 'module.php', ['action' => 'install', 'request' => $form + ['step' => 2], 'sessid' => false], $ext);
T::ok($r['installed_after'] === false && str_contains((string)$r['exception'], 'session'), 'a request without a valid sessid is refused');

// install
$r = hit($root, 'module.php', ['action' => 'install', 'request' => $form + ['step' => 2]], $ext);
T::ok(($r['page'] ?? '') === 'step2.php' && $r['installed_after'] === true, 'install with the extension: done, module registered', T::show($r));
T::ok(is_file("$root/bitrix/js/bxpush/pull/settings/script.js"), 'install copied install/js to /bitrix/js (the settings page script)');
T::ok(str_contains($r['output'], 'http://127.0.0.1:9/bitrix/pub/'), 'the result page says the old server could not be told to reload its pages');
$db = db($root);
$pull = $db['b_option']['pull'];
$want = [
    'server_mode' => 'personal', 'nginx_version' => '4', 'enable_protobuf' => 'Y', 'websocket' => 'Y',
    'path_to_modern_listener' => 'http://#DOMAIN#/bitrix/sub/', 'path_to_modern_listener_secure' => 'https://#DOMAIN#/bitrix/sub/',
    'path_to_websocket' => 'ws://#DOMAIN#/bitrix/subws/', 'path_to_websocket_secure' => 'wss://#DOMAIN#/bitrix/subws/',
    'path_to_publish' => $serve->publishUrl(),
    'path_to_publish_web' => 'http://#DOMAIN#/bitrix/rest/', 'path_to_publish_web_secure' => 'https://#DOMAIN#/bitrix/rest/',
    'signature_key' => $KEY, 'signature_algo' => 'sha1', 'nginx' => 'Y', 'nginx_error' => 'N',
];
foreach ($want as $k => $v) {
    T::eq($v, $pull[$k] ?? null, "install wrote pull:$k");
}
T::ok((int)$pull['config_timestamp'] > 100, 'install bumped pull:config_timestamp', $pull['config_timestamp']);
$changed = array_keys(array_filter($pull, fn($v, $k) => ($pullBefore[$k] ?? null) !== $v, ARRAY_FILTER_USE_BOTH));
sort($changed);
$listed = array_merge(array_keys($want), ['config_timestamp']);
sort($listed);
T::eq([], array_values(array_diff($changed, $listed)), 'no pull option outside the list was touched');
T::eq('a:0:{}', $pull['exclude_sites'], 'an option install does not manage keeps its value');
$snap = json_decode($db['b_option']['bxpush.pull']['pull_snapshot'], true);
foreach (array_merge(array_keys($want), ['config_timestamp']) as $k) {
    T::eq($pullBefore[$k] ?? null, array_key_exists($k, $snap) ? $snap[$k] : 'missing', "snapshot holds the old pull:$k" . (isset($pullBefore[$k]) ? '' : ' (no row)'));
}
T::eq('extension', $db['b_option']['bxpush.pull']['mode'] ?? null, 'mode: extension');
$rows = array_values(array_filter($db['b_module_to_module'] ?? [], fn($r) => $r['TO_MODULE_ID'] === 'bxpush.pull'));
$ev = array_map(fn($r) => $r['FROM_MODULE_ID'] . ':' . $r['MESSAGE_ID'] . ' -> ' . $r['TO_CLASS'] . '::' . $r['TO_METHOD'], $rows);
sort($ev);
T::eq(['main:OnPageStart -> \\Bxpush\\Pull\\ShimLoader::onPageStart', 'pull:OnGetDependentModule -> \\Bxpush\\Pull\\Dependency::onGetDependentModule'], $ev, 'handlers registered: main:OnPageStart (shim) and pull:OnGetDependentModule');
$agents = array_values(array_filter($db['b_agent'] ?? [], fn($a) => $a['MODULE_ID'] === 'bxpush.pull'));
T::ok(count($agents) === 1 && $agents[0]['NAME'] === '\\Bxpush\\Pull\\Agent::check();' && $agents[0]['AGENT_INTERVAL'] === 600 && $agents[0]['ACTIVE'] === 'Y', 'agent \\Bxpush\\Pull\\Agent::check(); every 600 s', T::show($agents));
$shared = sign('2e7803121cbe24e8fd85ec6539664215', $KEY);
$got = array_map(fn($e) => $e['json']['text']['command'] ?? null, history($serve, $shared));
T::eq(['config_expire'], $got, 'install told pages on bxpush to reload their config (config_expire on the shared channel)');

// a second hit of the installed site declares nothing wrong: the handler runs
$r = hit($root, 'module.php', ['action' => 'install'], $ext);
T::ok(($r['page'] ?? null) === 'step.php' || $r['installed_before'] === true, 'the installed site boots with the module\'s OnPageStart handler', $r['_stderr']);

// uninstall
$r = hit($root, 'module.php', ['action' => 'uninstall', 'admin' => true], $ext);
T::ok(($r['page'] ?? '') === 'unstep.php' && str_contains($r['output'], 'name="step" value="2"') && db($root)['b_module']['bxpush.pull'] ?? false, 'uninstall step 1 shows the confirmation and changes nothing', $r['_stderr']);
$r = hit($root, 'module.php', ['action' => 'uninstall', 'request' => ['step' => 2]], $ext);
T::ok(($r['page'] ?? '') === 'unstep2.php' && $r['installed_after'] === false, 'uninstall step 2: module unregistered', T::show($r));
$db = db($root);
$after = $db['b_option']['pull'];
$ts = $after['config_timestamp'];
unset($after['config_timestamp']);
$wantAfter = $pullBefore;
unset($wantAfter['config_timestamp']);
ksort($after);
ksort($wantAfter);
T::eq($wantAfter, $after, 'uninstall restored every pull option exactly (rows back, no-row options deleted)');
T::ok((int)$ts > (int)$pull['config_timestamp'], 'uninstall bumped config_timestamp again (pages drop the bxpush config)');
T::ok(!array_filter($db['b_module_to_module'] ?? [], fn($r) => $r['TO_MODULE_ID'] === 'bxpush.pull'), 'uninstall removed the handlers');
T::ok(!array_filter($db['b_agent'] ?? [], fn($a) => $a['MODULE_ID'] === 'bxpush.pull'), 'uninstall removed the agent');
T::ok(!array_filter($db['b_admin_notify'] ?? [], fn($n) => $n['MODULE_ID'] === 'bxpush.pull'), 'uninstall removed the notices');
T::ok(empty($db['b_option']['bxpush.pull']), 'uninstall removed the module\'s own options');
T::ok(!is_dir("$root/bitrix/js/bxpush"), 'uninstall removed its /bitrix/js files');
$got = array_map(fn($e) => $e['json']['text']['command'] ?? null, history($serve, $shared));
T::eq(['config_expire', 'config_expire'], $got, 'uninstall told pages on bxpush to reload their config');

// HTTP-only: no extension
$http = ['ext' => false];
$r = hit($root, 'module.php', ['action' => 'install', 'request' => $form + ['step' => 2]], $http);
T::ok($r['installed_after'] === false && str_contains((string)$r['exception'], 'bxpush serve uses (its --signature-key'), 'HTTP-only without a key: refused, asking for the bxpush serve key', (string)$r['exception']);
$r = hit($root, 'module.php', ['action' => 'install', 'request' => $form + ['step' => 2, 'signature_key' => $KEY]], $http);
$db = db($root);
T::ok($r['installed_after'] === true && ($db['b_option']['bxpush.pull']['mode'] ?? '') === 'http' && $db['b_option']['pull']['signature_key'] === $KEY, 'HTTP-only install with the serve key: mode http, key written', T::show($r));
$notes = array_values(array_filter($db['b_admin_notify'] ?? [], fn($n) => $n['TAG'] === 'BXPUSH_PULL_HTTP_ONLY'));
T::ok(count($notes) === 1 && str_contains($notes[0]['MESSAGE'], 'extension=bxpush'), 'HTTP-only install leaves a notice saying the extension adds spooling');
foreach ($db['b_admin_notify'] ?? [] as $n) {
    T::ok(!str_contains($n['MESSAGE'], $KEY), 'notice ' . $n['TAG'] . ' shows no key');
}
$r = hit($root, 'module.php', ['action' => 'uninstall', 'request' => ['step' => 2]], $http);
$db = db($root);
$after = $db['b_option']['pull'];
unset($after['config_timestamp']);
ksort($after);
T::eq($wantAfter, $after, 'HTTP-only uninstall restored the pull options exactly');
T::ok(!array_filter($db['b_admin_notify'] ?? [], fn($n) => $n['MODULE_ID'] === 'bxpush.pull'), 'HTTP-only uninstall removed its notice');

// a second site with its own pull rows (b_option_site): install and the agent say so
$root3 = site("$dir/site-s2", ['sites' => ['s1', 's2'], 'pull_site_options' => ['s2' => ['path_to_publish' => 'http://10.0.0.2:8895/bitrix/pub/']]]);
$r = hit($root3, 'module.php', ['action' => 'install', 'request' => $form + ['step' => 2]], $ext);
T::ok($r['installed_after'] === true && str_contains(html_entity_decode($r['output']), 's2: path_to_publish'), 'a site-specific pull option: install goes on and says which site overrides which option', $r['output'] ?? T::show($r));
$r = hit($root3, 'agent.php', [], $ext);
T::ok(str_contains($r['notices']['BXPUSH_PULL_SITE_OPTIONS'] ?? '', 's2: path_to_publish'), 'and the agent keeps a notice about it', T::show($r['notices']));

// no pull module on the site
$root2 = site("$dir/site-nopull", ['pull' => false]);
$r = hit($root2, 'module.php', ['action' => 'install', 'request' => $form + ['step' => 2]], $ext);
T::ok($r['returned'] === false && str_contains((string)$r['exception'], '(pull) is not installed'), 'a site without the pull module: refused, saying to install pull first', T::show($r));

T::done();
