<?php
// Bitrix's Site Checker "Push & Pull" test (check_pull_stream, module notes §7.4), step by
// step, with the pull options of the site as they are. Args: 'host' (the checker's host:port,
// put for #DOMAIN#), 'stat' (bxpush's /server-stat/ address, to see the GET parked instead of
// the checker's 1 s sleep). Reports each step.
require __DIR__ . '/boot.php';

\Bitrix\Main\Loader::includeModule('pull');
$out = ['status' => CPullOptions::GetQueueServerStatus(), 'version' => CPullOptions::GetQueueServerVersion()];
if (!$out['status'] || $out['version'] < 4) {
    hit_result($out + ['verdict' => !$out['status'] ? 'stream disabled' : 'unsupported version']);
    return;
}
$text = md5((string)random_int(0, PHP_INT_MAX));
$channelId = md5($text);
$id = CPullChannel::SignChannel($channelId);
$url = str_replace('#DOMAIN#', $HIT['host'], CPullOptions::GetListenUrl($id));
$u = parse_url($url);
$out['listen_url'] = $url;

$pollings = function () use ($HIT) {
    $j = json_decode((string)@file_get_contents("http://{$HIT['stat']}/server-stat/"), true);
    return (int)($j[0]['pollings'] ?? 0);
};
$before = $pollings();
$sock = fsockopen($u['host'], $u['port'] ?? 80, $errno, $errstr, 5);
$out['connected'] = (bool)$sock;
fwrite($sock, 'GET ' . $u['path'] . '?' . $u['query'] . " HTTP/1.0\r\n"
    . 'If-Modified-Since: ' . gmdate('D, d M Y H:i:s', time() - 86400) . " GMT\r\n"
    . 'Host: ' . $HIT['host'] . "\r\n\r\n");
$deadline = microtime(true) + 5;
while ($pollings() <= $before && microtime(true) < $deadline) {
    usleep(2000);   // the checker sleeps 1 s here; the test waits for the server to park the GET
}

$sent = CPullChannel::Send($channelId, $text, ['dont_wait_answer' => false]);
$out['send'] = $sent !== false;
$out['publish_url'] = CPullOptions::GetPublishUrl();

stream_set_timeout($sock, 5);
$data = fread($sock, 4096);
fclose($sock);
$out['read_bytes'] = strlen((string)$data);
$out['token_found'] = str_contains((string)$data, $text);

// step 7: DELETE on the publish host (its result is ignored by the checker)
$pub = parse_url(str_replace('#DOMAIN#', $HIT['host'], \Bitrix\Pull\Config::getPublishUrl($id)));
$d = @fsockopen($pub['host'], $pub['port'] ?? 80, $errno, $errstr, 5);
if ($d) {
    fwrite($d, 'DELETE ' . $pub['path'] . '?' . $pub['query'] . " HTTP/1.0\r\nHost: {$HIT['host']}\r\n\r\n");
    fclose($d);
}
$out['verdict'] = $out['send'] && $out['token_found'] ? 'ok' : 'no push stream connection';
hit_result($out);
