<?php
// Direct calls of \Bitrix\Pull\ProtobufTransport (whichever this hit has: bxpush.pull's shim
// or the pull module's own). Args:
//   'send'   => [['vector' => 'direct-1', 'options' => [...], 'limits' => [pull option => value]], ...]
//   'online' => [[channel ids], ...]
//   'event'  => true: Event::add(1, case a's parameters) + Event::send(), warnings captured
//   'vectors' => the vectors file
require __DIR__ . '/boot.php';

use Bitrix\Main\Config\Option;

\Bitrix\Main\Loader::includeModule('pull');
$all = json_decode(file_get_contents($HIT['vectors']), true);
$byCase = array_column(array_slice($all, 1), null, 'case');
$out = ['shim' => hit_shim_active(), 'send' => [], 'online' => []];

foreach ($HIT['send'] ?? [] as $call) {
    $v = $byCase[$call['vector']];
    $messages = eval('return ' . $v['messages_var_export'] . ';');
    if (!empty($call['invalid_utf8'])) {
        // JSON (the vectors file) cannot carry the invalid bytes of direct-6: put them back
        $messages['x']['event']['params']['bad'] = "\xc3\x28";
    }
    foreach ($call['limits'] ?? [] as $k => $val) {
        Option::set('pull', $k, $val);
    }
    try {
        $r = \Bitrix\Pull\ProtobufTransport::sendMessages($messages, $call['options'] ?? []);
        $out['send'][] = ['result' => [
            'class' => get_class($r),
            'isSuccess' => $r->isSuccess(),
            'errors' => array_map(fn($e) => ['code' => $e->getCode(), 'message' => $e->getMessage()], $r->getErrors()),
            'remoteAddress' => $r->getRemoteAddress(),
        ], 'exception' => null];
    } catch (Throwable $e) {
        $out['send'][] = ['result' => null, 'exception' => ['class' => get_class($e), 'message' => $e->getMessage()]];
    }
    foreach ($call['limits'] ?? [] as $k => $val) {
        Option::delete('pull', ['name' => $k]);
    }
}
if (!empty($HIT['big'])) {
    // one entry over bxpush's 1 MiB payload limit between two normal ones
    $entry = fn(string $cmd, string $text) => ['event' => ['module_id' => 'im', 'command' => $cmd, 'params' => ['t' => $text], 'extra' => [], 'expiry' => 60], 'channels' => ['2cd7d5c0d50fe7e43a50b71efed980cb']];
    $r = \Bitrix\Pull\ProtobufTransport::sendMessages(['first' => $entry('before', 'a'), 'huge' => $entry('huge', str_repeat('x', 1100000)), 'last' => $entry('after', 'b')]);
    $out['big'] = ['isSuccess' => $r->isSuccess(), 'errors' => array_map(fn($e) => ['code' => $e->getCode(), 'message' => $e->getMessage()], $r->getErrors())];
}
foreach ($HIT['online'] ?? [] as $channels) {
    $out['online'][] = \Bitrix\Pull\ProtobufTransport::getOnlineChannels($channels);
}
if (!empty($HIT['event'])) {
    $warnings = [];
    set_error_handler(function ($no, $str) use (&$warnings) {
        if ($no === E_USER_WARNING) {
            $warnings[] = $str;
            return true;
        }
        return false;
    });
    \Bitrix\Pull\Event::add(1, ['module_id' => 'im', 'command' => 'failure_test', 'params' => ['n' => $HIT['event']]]);
    $out['event'] = ['returned' => \Bitrix\Pull\Event::send(), 'warnings' => $warnings, 'queue_after' => count(\Bitrix\Pull\Event::standinQueue())];
    restore_error_handler();
}
$out['flush'] = function_exists('BxPush\\flush') ? BxPush\flush(1000) : null;
hit_result($out);
