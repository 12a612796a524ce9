<?php
// Long-poll subscriber for the FPM test: follows 4 channels, resumes with the last mid
// across owner restarts, appends "mid channel seq" per message to $out until $stop exists.
[, $sub, $key, $out, $stop] = $argv;
$desc = [];
for ($c = 0; $c < 4; $c++) {
    $id = md5("fpm-chan-$c");
    $desc[] = $id . '.' . hash_hmac('sha1', $id, $key);
}
$channelId = rawurlencode(implode('/', $desc));
$mid = '00000000000000000000000000';
$fh = fopen($out, 'a');
$errors = 0;
while (!file_exists($stop)) {
    $s = @stream_socket_client("tcp://$sub", $en, $es, 1);
    if (!$s) { $errors++; usleep(100000); continue; }
    stream_set_timeout($s, 10);
    fwrite($s, "GET /bitrix/sub/?CHANNEL_ID=$channelId&mid=$mid HTTP/1.0\r\nHost: x\r\n\r\n");
    $raw = stream_get_contents($s);
    fclose($s);
    [$head, $body] = explode("\r\n\r\n", (string)$raw, 2) + [1 => ''];
    $status = (int)(explode(' ', $head)[1] ?? 0);
    if ($status !== 200) {
        if ($status !== 304) { $errors++; usleep(100000); }
        continue;
    }
    preg_match_all('/#!NGINXNMS!#(.*?)#!NGINXNME!#/s', $body, $m);
    foreach ($m[1] as $env) {
        $e = json_decode($env, true);
        fwrite($fh, sprintf("%s %d %d\n", $e['mid'], $e['text']['c'], $e['text']['seq']));
        $mid = $e['mid'];
    }
    fflush($fh);
}
fwrite(STDERR, "subscriber: $errors connection errors/retries\n");
