<?php
// With bxpush stopped, 4 PHP processes send 200 events through the pull module's API (one
// flush each) at the same time: none fails, the extension spools them. Then bxpush starts
// and the next hit that sends replays the spool: every event arrives once, each process's
// events in order, the new hit's event after them.
require __DIR__ . '/../lib/testlib.php';

use BxTest\Serve;
use BxTest\T;
use function BxTest\{history, hit, root, sign, site, tmpdir};

$dir = tmpdir('spool');
$KEY = 'spool-test-key-0123456789abcdef';
@mkdir("$dir/serve");
$serve = (new Serve("$dir/serve", $KEY))->start();
$root = site("$dir/site", ['server_name' => 'vectors.test', 'channel_seed' => 'realpull|vectors']);
$spool = "$dir/spool";
$r = hit($root, 'module.php', ['action' => 'install', 'request' => ['step' => 2, 'path_to_publish' => $serve->publishUrl()]], ['serve' => $serve, 'spool' => $spool]);
T::ok($r['installed_after'] === true, 'site installed with the extension');
$serve->stop();

$PROCS = 4;
$PER = 50;
$cmd = [PHP_BINARY, '-n', '-d', 'extension=' . BxTest\so(), '-d', "bxpush.server={$serve->sock}", '-d', "bxpush.signature_key=$KEY",
    '-d', "bxpush.spool_dir=$spool", '-d', 'bxpush.flush_timeout_ms=200', '-d', 'date.timezone=UTC', root() . '/tests/bitrix/hits/send.php'];
$procs = [];
for ($p = 0; $p < $PROCS; $p++) {
    $env = ['BX_DOCUMENT_ROOT' => $root, 'PATH' => getenv('PATH'), 'BX_HIT_ARGS' => json_encode(['proc' => "p$p", 'start' => 1, 'count' => $PER])];
    $procs[$p] = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
    $procs[$p] = [$procs[$p], $pipes];
}
$allOk = true;
$detail = '';
foreach ($procs as $p => [$proc, $pipes]) {
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    $rc = proc_close($proc);
    preg_match('/^HIT-RESULT: (.*)$/m', $out, $m);
    $res = json_decode($m[1] ?? 'null', true);
    if ($rc !== 0 || !$res || $res['shim'] !== true || $res['warnings'] !== 0) {
        $allOk = false;
        $detail .= "p$p rc=$rc " . trim($out) . ' ' . trim($err) . "\n";
    }
}
T::ok($allOk, "$PROCS processes sent " . ($PROCS * $PER) . ' events through the shim with bxpush down: no failure, no warning', $detail);
$spooled = glob("$spool/*") ?: [];
T::ok(count(array_filter($spooled, 'is_file')) > 0, 'the events wait in the spool directory', implode(' ', $spooled));

$serve->start();
$r = hit($root, 'send.php', ['proc' => 'late', 'start' => 1, 'count' => 1], ['serve' => $serve, 'spool' => $spool]);
T::ok(($r['flush']['complete'] ?? false) === true, 'a hit after the restart reaches bxpush', T::show($r['flush'] ?? null));

$want = $PROCS * $PER + 1;
$ch = sign('2cd7d5c0d50fe7e43a50b71efed980cb', $KEY);
$got = [];
$deadline = microtime(true) + 20;
do {   // the replay is asynchronous: wait until every event is there (or the deadline)
    $got = array_map(fn($e) => json_decode($e['text'], true)['params'] ?? null, history($serve, $ch));
} while (count($got) < $want && microtime(true) < $deadline && (usleep(20000) || true));
$seen = [];
$dups = 0;
$orderBad = 0;
$last = [];
foreach ($got as $g) {
    $k = $g['p'] . ':' . $g['n'];
    $dups += isset($seen[$k]) ? 1 : 0;
    $seen[$k] = true;
    if (isset($last[$g['p']]) && $g['n'] <= $last[$g['p']]) {
        $orderBad++;
    }
    $last[$g['p']] = $g['n'];
}
$lost = 0;
for ($p = 0; $p < $PROCS; $p++) {
    for ($n = 1; $n <= $PER; $n++) {
        $lost += isset($seen["p$p:$n"]) ? 0 : 1;
    }
}
T::eq(0, $lost, 'after bxpush is back: 0 lost');
T::eq(0, $dups, '0 duplicated');
T::eq(0, $orderBad, 'each process\'s events in order');
T::eq('late:1', isset($got[count($got) - 1]) ? $got[count($got) - 1]['p'] . ':' . $got[count($got) - 1]['n'] : null, 'the new hit\'s event comes after the replayed ones');
T::eq([], array_values(array_filter(glob("$spool/*") ?: [], fn($f) => is_file($f) && !str_starts_with(basename($f), '.') && filesize($f) > 0)), 'the spool is drained');
T::done();
