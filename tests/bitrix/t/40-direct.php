<?php
// The shim's TransportResult and getOnlineChannels semantics (vectors §3.7, §5, §6, §10, §11):
// direct-* calls, serverUrl honoured over HTTP (errors per batch as the stock transport),
// exceptions mapped to the stock ones, online channels from the owner, and what
// Event::send() does with the result when the owner is down (shim: nothing lost) or the
// publish URL is closed (stock transport: the vectors' warning).
require __DIR__ . '/../lib/testlib.php';

use BxTest\Serve;
use BxTest\T;
use function BxTest\{history, hit, lpOpen, root, sign, site, tmpdir, vector};

$dir = tmpdir('direct');
$KEY = 'direct-test-key-0123456789abcdef';
@mkdir("$dir/serve");
$serve = (new Serve("$dir/serve", $KEY))->start();
$root = site("$dir/site", ['server_name' => 'vectors.test', 'channel_seed' => 'realpull|vectors']);
$spool = "$dir/spool";
$ext = ['serve' => $serve, 'spool' => $spool];
$r = hit($root, 'module.php', ['action' => 'install', 'request' => ['step' => 2, 'path_to_publish' => $serve->publishUrl()]], $ext);
T::ok($r['installed_after'] === true, 'site installed with the extension');
$vf = root() . '/tests/vectors/pull-transport-vectors.json';
$p1 = '2cd7d5c0d50fe7e43a50b71efed980cb';
$p2 = '543c44eb735fc7cc9b15c1028a449507';
$p3 = '81f523072f258845950bf8d6ff77281e';
$bodyA = vector('a')['delivered'][0]['body'];
$closed = (function () {
    $s = stream_socket_server('tcp://127.0.0.1:0');
    $n = stream_socket_get_name($s, false);
    fclose($s);
    return $n;
})();
$closedUrl = "http://$closed/bitrix/pub/";
$refused = "[2] stream_socket_client(): Unable to connect to tcp://$closed (Connection refused)";
$texts = fn(string $ch) => array_map(fn($e) => $e['text'], history($serve, sign($ch, $KEY)));

$r = hit($root, 'direct.php', ['vectors' => $vf, 'send' => [
    ['vector' => 'direct-1'],
    ['vector' => 'direct-3', 'options' => ['serverUrl' => $closedUrl]],
    ['vector' => 'direct-4'],
    ['vector' => 'direct-5'],
    ['vector' => 'direct-6', 'invalid_utf8' => true],
    ['vector' => 'direct-7'],
    ['vector' => 'direct-8', 'options' => ['serverUrl' => $closedUrl], 'limits' => ['limit_max_channels_per_request' => '1', 'limit_max_messages_per_request' => '1']],
    ['vector' => 'direct-2', 'options' => ['serverUrl' => "http://{$serve->sub}/bitrix/no-such-path/"]],
]], $ext);
T::ok($r['shim'] === true, 'the hit runs with the shim', $r['_stderr']);
[$d1, $d3, $d4, $d5, $d6, $d7, $d8, $d2] = $r['send'];
$ok = fn(string $remote) => ['class' => 'Bitrix\\Pull\\TransportResult', 'isSuccess' => true, 'errors' => [], 'remoteAddress' => $remote];
T::eq($ok($serve->publishUrl()), $d1['result'], 'direct-1: success, remote address = the publish URL');
T::eq([
    'class' => 'Bitrix\\Pull\\TransportResult', 'isSuccess' => false,
    'errors' => [['code' => 'NETWORK', 'message' => $refused]], 'remoteAddress' => $closedUrl,
], $d3['result'], 'direct-3: serverUrl on a closed port: one NETWORK error with the stock text, remote = serverUrl');
T::eq($ok($serve->publishUrl()), $d4['result'], 'direct-4: empty $messages: success');
T::eq($ok($serve->publishUrl()), $d5['result'], 'direct-5: every entry skipped: success');
T::eq(['class' => 'Bitrix\\Main\\ArgumentException', 'message' => vector('direct-6')['exception']['message']], $d6['exception'], 'direct-6: invalid UTF-8 throws ArgumentException with the stock message');
T::eq($ok($serve->publishUrl()), $d7['result'], 'direct-7: minimal entry: success');
T::eq(2, count($d8['result']['errors'] ?? []), 'direct-8: serverUrl with 1 channel per request: one error per batch (2)');
T::eq([['code' => 'NETWORK', 'message' => $refused], ['code' => 'NETWORK', 'message' => $refused]], $d8['result']['errors'] ?? null, 'direct-8: both errors carry the stock text');
T::eq($ok("http://{$serve->sub}/bitrix/no-such-path/"), $d2['result'], 'direct-2: serverUrl answering 404 is a success (the status is not examined)');
T::eq(true, $r['flush']['complete'] ?? null, 'the extension handed everything to the owner', T::show($r['flush'] ?? null));
T::eq([$bodyA, '{"module_id":"im","command":"min","params":[],"extra":[]}'], $texts($p1), 'private:1 got direct-1 and direct-7 (params/extra null → []), nothing from the skipped or failed calls');

// an entry over bxpush's payload limit: an error in the result (pull warns), the others go
$r = hit($root, 'direct.php', ['vectors' => $vf, 'big' => true], $ext);
T::ok(($r['big']['isSuccess'] ?? null) === false && count($r['big']['errors']) === 1 && $r['big']['errors'][0]['code'] === 'BXPUSH'
    && str_contains($r['big']['errors'][0]['message'], 'huge') && str_contains($r['big']['errors'][0]['message'], '1 MiB'), 'a message over the 1 MiB limit: one error naming it (never lost silently)', T::show($r['big'] ?? $r));
$cmds = array_map(fn($t) => json_decode($t, true)['command'] ?? null, array_slice($texts($p1), -2));
T::eq(['before', 'after'], $cmds, 'the other messages of that flush are delivered');

// serverUrl pointing at bxpush: the stock batches over HTTP reach it too
$r = hit($root, 'direct.php', ['vectors' => $vf, 'send' => [['vector' => 'direct-8', 'options' => ['serverUrl' => $serve->publishUrl()], 'limits' => ['limit_max_channels_per_request' => '1']]]], $ext);
T::eq($ok($serve->publishUrl()), $r['send'][0]['result'], 'serverUrl = bxpush publish URL: success over HTTP');
T::eq([$bodyA], $texts($p2), 'serverUrl path delivered direct-8 to private:2 (encoded by the extension, POSTed)');

// getOnlineChannels from the owner (a fresh owner: reading a history counts as activity)
$serve->stop();
$serve->start();
$lp = lpOpen($serve, sign($p1, $KEY) . '/' . sign($p3, $KEY));
$r = hit($root, 'direct.php', ['vectors' => $vf, 'online' => [[$p1, $p2, $p3], []]], $ext);
fclose($lp);
T::eq([[$p1 => true, $p3 => true], []], $r['online'], 'getOnlineChannels: online ones as hex => true, offline left out; empty input → []');

// owner down
$serve->stop();
$down = $ext + ['ini' => ['bxpush.flush_timeout_ms' => '200']];
$r = hit($root, 'direct.php', ['vectors' => $vf, 'online' => [[$p1]], 'send' => [['vector' => 'direct-1']], 'event' => 1], $down);
T::eq([[]], $r['online'], 'getOnlineChannels with the owner down: []');
T::eq($ok($serve->publishUrl()), $r['send'][0]['result'] ?? null, 'sendMessages with the owner down: success (the forwarder spools)');
T::eq(['returned' => true, 'warnings' => [], 'queue_after' => 0], $r['event'] ?? null, 'Event::send with the owner down: no warning, queue emptied (the events are spooled, not dropped)');
T::ok(($r['flush']['spooled'] ?? 0) >= 1 || str_contains(T::show($r['flush']), 'spool'), 'the extension reports the events spooled', T::show($r['flush']));
$serve->start();
// the next hit that sends reaches the owner and replays the spool first, in order
$r = hit($root, 'direct.php', ['vectors' => $vf, 'send' => [['vector' => 'direct-7']]], $ext);
T::eq([$bodyA, '{"module_id":"im","command":"failure_test","params":{"n":1},"extra":{"server_time":'], array_map(fn($t) => str_contains($t, 'failure_test') ? substr($t, 0, strpos($t, '"server_time":') + 14) : $t, array_slice($texts($p1), 0, 2)),
    'after the owner is back, the spooled sendMessages and Event::send are delivered first, in order');
T::eq(3, count($texts($p1)), 'each spooled event delivered once, then the new one (3 in all)');

// stock transport (no extension) with the publish URL closed: the vectors' warning
$serve->stop();
$r = hit($root, 'direct.php', ['vectors' => $vf, 'event' => 2], ['ext' => false]);
T::eq(false, $r['shim'], 'without the extension the shim is not declared');
$pub = $serve->publishUrl();
$port = parse_url($pub, PHP_URL_PORT);
T::eq(['returned' => true, 'warnings' => ["Pull send error; NETWORK: [2] stream_socket_client(): Unable to connect to tcp://127.0.0.1:$port (Connection refused); remote endpoint: $pub"], 'queue_after' => 0],
    $r['event'] ?? null, 'event-failure through the stock HTTP transport: the warning of the vectors, queue emptied (lost)');
T::done();
