<?php
// The health agent (\Bxpush\Pull\Agent::check();): a notice naming the fix when bxpush does
// not answer, when the pull options were changed, when the PHP running agents lacks the
// extension, when the extension's key differs, when the pull module's transport API is not
// the known one (then the shim also steps aside and the HTTP path delivers); each notice
// goes away once its problem is fixed.
require __DIR__ . '/../lib/testlib.php';

use BxTest\Serve;
use BxTest\T;
use function BxTest\{history, hit, root, sign, site, tmpdir};

$dir = tmpdir('agent');
$KEY = 'agent-test-key-0123456789abcdef';
@mkdir("$dir/serve");
$serve = (new Serve("$dir/serve", $KEY))->start();
$root = site("$dir/site", ['server_name' => 'vectors.test', 'channel_seed' => 'realpull|vectors']);
$ext = ['serve' => $serve, 'spool' => "$dir/spool", 'ini' => ['bxpush.flush_timeout_ms' => '200']];
$r = hit($root, 'module.php', ['action' => 'install', 'request' => ['step' => 2, 'path_to_publish' => $serve->publishUrl()]], $ext);
T::ok($r['installed_after'] === true, 'site installed with the extension');
$agent = fn(array $args = [], array $o = null) => hit($root, 'agent.php', $args, $o ?? $ext);

$r = $agent();
T::ok(array_key_exists('\\Bxpush\\Pull\\Agent::check();', $r['ran']) && $r['ran']['\\Bxpush\\Pull\\Agent::check();'] === '\\Bxpush\\Pull\\Agent::check();', 'the agent runs and keeps its name', T::show($r['ran']) . $r['_stderr']);
T::eq([], $r['notices'], 'all well: no notice');

$serve->stop();
$r = $agent();
T::eq(['BXPUSH_PULL_RUNTIME'], array_keys($r['notices']), 'bxpush down: one notice');
T::ok(str_contains($r['notices']['BXPUSH_PULL_RUNTIME'] ?? '', "bxpush serve --listen-php {$serve->sock}") && str_contains($r['notices']['BXPUSH_PULL_RUNTIME'], "$dir/spool"), 'it names the command to start and where events wait', $r['notices']['BXPUSH_PULL_RUNTIME'] ?? '');
$serve->start();
T::eq([], $agent()['notices'], 'bxpush back: the notice is gone');

$r = $agent(['set' => ['path_to_publish' => 'http://127.0.0.1:8895/bitrix/pub/', 'nginx_version' => '5']]);
T::ok(isset($r['notices']['BXPUSH_PULL_OPTIONS']) && str_contains($r['notices']['BXPUSH_PULL_OPTIONS'], 'nginx_version, path_to_publish'), 'pull options changed: a notice naming them and the fix', T::show($r['notices']));
$r = $agent(['set' => ['path_to_publish' => $serve->publishUrl(), 'nginx_version' => '4']]);
T::eq([], $r['notices'], 'options set back: the notice is gone');

$r = $agent([], ['ext' => false]);
T::ok(isset($r['notices']['BXPUSH_PULL_EXTENSION']) && str_contains($r['notices']['BXPUSH_PULL_EXTENSION'], 'extension=bxpush'), 'agents run by a PHP without the extension: a notice saying to load it', T::show($r['notices']));
T::ok(!isset($r['notices']['BXPUSH_PULL_RUNTIME']), 'without the extension the runtime is checked over HTTP (/server-stat/ beside the publish URL): it answers');
T::eq([], $agent()['notices'], 'with the extension again: the notice is gone');

$r = $agent([], ['serve' => $serve, 'ini' => ['bxpush.signature_key' => 'another-key-0123456789abcdef', 'bxpush.flush_timeout_ms' => '200']]);
T::ok(isset($r['notices']['BXPUSH_PULL_KEY']) && !str_contains($r['notices']['BXPUSH_PULL_KEY'], 'another-key') && !str_contains($r['notices']['BXPUSH_PULL_KEY'], $KEY), 'php.ini key differs from the pull module\'s: a notice (without either key)', T::show($r['notices']));
T::eq([], $agent()['notices'], 'same key again: the notice is gone');

// the pull module gets an update with another transport API
$file = "$root/bitrix/modules/pull/lib/protobuftransport.php";
$orig = file_get_contents($file);
file_put_contents($file, str_replace('getOnlineChannels(array $channels)', 'getOnlineChannels(array $channels, array $options = [])', $orig));
$r = $agent();
T::ok(isset($r['notices']['BXPUSH_PULL_TRANSPORT']) && str_contains($r['notices']['BXPUSH_PULL_TRANSPORT'], 'getOnlineChannels') && str_contains($r['notices']['BXPUSH_PULL_TRANSPORT'], '26.250.0'), 'pull transport API changed: a notice naming the version and what differs', T::show($r['notices']));
T::eq(false, $r['shim'], 'and the shim is not declared');
$r = hit($root, 'vector.php', ['case' => 'a', 'vectors' => root() . '/tests/vectors/pull-transport-vectors.json'], $ext);
$got = array_map(fn($e) => $e['text'], history($serve, sign('2cd7d5c0d50fe7e43a50b71efed980cb', $KEY)));
T::ok($r['shim'] === false && in_array(BxTest\vector('a')['delivered'][0]['body'], $got, true), 'the pull module\'s own transport delivers meanwhile (HTTP path)', T::show($r));
file_put_contents($file, $orig);
touch($file, time() + 5);   // a new mtime, as an update would
$r = $agent();
T::eq([], $r['notices'], 'the known API again: the notice is gone');
T::eq(true, $r['shim'], 'and the shim is declared again');
T::done();
