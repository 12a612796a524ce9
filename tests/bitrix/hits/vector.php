<?php
// Replays one flush case of pull-transport-vectors.json through the stand-in pull module's
// public API (Event::add / CPullStack::AddShared / CPullWatch::AddToStack, then Event::send
// or the end-of-hit background job), with the vectors' fixed clock. Args: 'case', 'vectors'
// (file). Reports which transport ran, exceptions, warnings and the queue left.
require __DIR__ . '/boot.php';

use Bitrix\Pull\Event;

\Bitrix\Main\Loader::includeModule('pull');
$all = json_decode(file_get_contents($HIT['vectors']), true);
$fixed = $all[0];
$case = null;
foreach ($all as $v) {
    if (($v['case'] ?? null) === $HIT['case']) {
        $case = $v;
    }
}
Event::$standinClock = [$fixed['server_time'], $fixed['server_time_unix']];

$decode = function ($p) use (&$decode) {
    if (is_string($p) && preg_match('/^@datetime:(\d+)$/', $p, $m)) {
        return \Bitrix\Main\Type\DateTime::createFromTimestamp((int)$m[1]);
    }
    return is_array($p) ? array_map($decode, $p) : $p;
};
$recipient = function ($r) use (&$recipient, $fixed) {
    if (is_array($r)) {
        return array_map($recipient, $r);
    }
    if (is_string($r) && str_starts_with($r, 'tag:')) {
        return \Bitrix\Pull\Model\Channel::createWithTag(substr($r, 4));
    }
    if (is_string($r) && isset($fixed['channel_map'][$r])) {
        return $fixed['channel_map'][$r];
    }
    return $r;
};

$warnings = [];
set_error_handler(function ($no, $str) use (&$warnings) {
    if ($no === E_USER_WARNING) {
        $warnings[] = $str;
        return true;
    }
    return false;
});
$exceptions = [];
foreach ($case['input_steps'] as $step) {
    $params = $step['parameters'] ?? null;
    $params = is_string($params) ? eval("return $params;") : $decode($params);
    try {
        switch ($step['call']) {
            case 'Event::add':
                Event::add($recipient($step['recipients']), $params);
                break;
            case 'Event::send':
                Event::send();
                break;
            case 'CPullStack::AddShared':
                CPullStack::AddShared($params);
                break;
            case 'CPullWatch::AddToStack':
                foreach ([1, 2, 3] as $u) {
                    CPullWatch::Add($u, $step['tag'], true);
                }
                CPullWatch::AddToStack($step['tag'], $params);
                break;
        }
    } catch (Throwable $e) {
        $exceptions[] = get_class($e) . ': ' . $e->getMessage();
    }
}
// the end of the hit: the background job flushes what is left (d, e1)
try {
    if (Event::standinQueue()) {
        Event::sendInBackground();
    }
} catch (Throwable $e) {
    $exceptions[] = get_class($e) . ': ' . $e->getMessage() . ' (background job)';
}
$queue = Event::standinQueue();
$flush = function_exists('BxPush\\flush') ? BxPush\flush(3000) : null;
hit_result([
    'shim' => hit_shim_active(),
    'exceptions' => $exceptions,
    'warnings' => $warnings,
    'queue_after' => count($queue),
    'queue_after_channels' => array_values(array_map(fn($e) => array_values($e['channels']), $queue)),
    'flush' => $flush,
]);
