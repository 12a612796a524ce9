<?php
// The stand-in pull module is faithful to the vectors: replaying each flush case through its
// API hands the transport the vectors' $messages (values in order; the merge keys are opaque),
// and its stock-like HTTP transport encodes them into exactly the vectors' batches_hex (with
// each case's limits). The other tests rely on both.
require __DIR__ . '/../lib/testlib.php';

use BxTest\T;
use function BxTest\{hit, root, site, tmpdir, vectors};

$dir = tmpdir('standin');
$root = site("$dir/site", ['server_name' => 'vectors.test', 'channel_seed' => 'realpull|vectors', 'pull_options' => [
    'nginx' => 'Y', 'nginx_version' => '4', 'signature_key' => 'k', 'path_to_publish' => 'http://127.0.0.1:9/bitrix/pub/',
]]);
$vf = root() . '/tests/vectors/pull-transport-vectors.json';
require_once root() . '/tests/bitrix/kernel/result.php';
require_once root() . '/tests/bitrix/pull/lib/standin/wire.php';

// the stock-like encoder, without a kernel: CPullOptions limits are passed in
$fakeOptions = 'namespace { class CPullOptions { static function GetMaxChannelsPerRequest() { return 100; } static function GetMaxMessagesPerRequest() { return 100; } static function GetMaxPayload() { return 1048576; } } }';
eval($fakeOptions);
require_once root() . '/tests/bitrix/pull/lib/transportresult.php';
require_once root() . '/tests/bitrix/pull/lib/protobuftransport.php';

foreach (vectors() as $v) {
    if (($v['kind'] ?? '') !== 'flush') {
        continue;
    }
    $case = $v['case'];
    $messages = isset($v['messages_php_serialized_b64']) ? unserialize(base64_decode($v['messages_php_serialized_b64'])) : eval('return ' . $v['messages_var_export'] . ';');
    $limits = [];
    foreach ($v['limits'] as $k => $val) {
        $limits[substr($k, strlen('limit_'))] = (int)$val;
    }
    $ext = $v['php_extension'] ?? null;
    if ($ext === null || extension_loaded($ext)) {
        try {
            $hex = array_map('bin2hex', \Bitrix\Pull\ProtobufTransport::encodeBatches($messages, $limits));
            T::eq($v['batches_hex'], $hex, "$case: the stand-in's stock transport encodes the vectors' batches");
        } catch (Throwable $e) {
            T::eq($v['exception'], ['class' => get_class($e), 'message' => $e->getMessage()], "$case: the stand-in's stock transport throws as the vectors say");
        }
    }
    $r = hit($root, 'record.php', ['case' => $case, 'vectors' => $vf], ['ext' => false, 'php_ini' => $ext ? ['extension' => $ext] : []]);
    if ($case === 'j') {   // NAN cannot be JSON: compare the structure without it
        T::ok(count($r['calls'] ?? []) >= 1 && str_contains($r['calls'][0]['messages_json'] ?? '', '"command":"nan"'), "$case: the flush hands the NAN entry to the transport", T::show($r));
        continue;
    }
    $want = json_encode(array_values($messages), JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION);
    T::eq([$want], array_map(fn($c) => $c['messages_json'], $r['calls'] ?? []), "$case: replaying the API calls gives the vectors' \$messages in one sendMessages call");
    T::eq([[]], array_map(fn($c) => $c['options'], $r['calls'] ?? []), "$case: \$options is []");
}
T::done();
