<?php
// Every flush case of pull-transport-vectors.json, replayed through the stand-in pull module's
// API on an installed site, must reach long-poll subscribers of a real `bxpush serve` with
// exactly the delivered bytes of the vectors:
//   shim: the extension is loaded, OnPageStart declared bxpush.pull's ProtobufTransport, the
//         queue goes to BxPush\send_pull_messages (no HTTP);
//   http: no extension: the shim is not declared, the pull module's own HTTP transport POSTs
//         to path_to_publish — and delivers the same.
// j and i2 throw exactly as the vectors say, deliver nothing and leave the queue as they say.
// Expiry 0 is live only: a subscriber parked before the send gets it, history does not.
require __DIR__ . '/../lib/testlib.php';

use BxTest\Serve;
use BxTest\T;
use function BxTest\{history, hit, lpOpen, lpRead, root, sign, site, tmpdir, vectors};

$dir = tmpdir('vectors');
$KEY = 'vectors-test-key-0123456789abcdef';
@mkdir("$dir/serve");
$serve = (new Serve("$dir/serve", $KEY))->start();
$root = site("$dir/site", ['server_name' => 'vectors.test', 'channel_seed' => 'realpull|vectors']);
$spool = "$dir/spool";
$r = hit($root, 'module.php', ['action' => 'install', 'request' => ['step' => 2, 'path_to_publish' => $serve->publishUrl()]], ['serve' => $serve, 'spool' => $spool]);
T::ok($r['installed_after'] === true, 'site installed with the extension', T::show($r));
$vectorsFile = root() . '/tests/vectors/pull-transport-vectors.json';

foreach (vectors() as $v) {
    if (($v['kind'] ?? '') !== 'flush') {
        continue;
    }
    $case = $v['case'];
    $phpExt = $v['php_extension'] ?? null;
    // expected per channel: bodies in order; live-only ones apart
    $stored = [];
    $live = [];
    foreach ($v['delivered'] as $d) {
        foreach (array_unique($d['channels']) as $ch) {
            if ((int)$d['expiry'] === 0) {
                $live[$ch][] = $d['body'];
            } else {
                $stored[$ch][] = $d['body'];
            }
        }
    }
    $channels = array_keys($stored + $live);
    if (count($channels) > 8) {   // 150 users: both ends and every chunk boundary of 40 and 100
        $channels = array_values(array_unique(array_map(fn($i) => $channels[$i], [0, 1, 39, 40, 79, 80, 99, 100, 119, 120, count($channels) - 1])));
    }
    if (!$channels) {   // the throwing cases: user 1's channel must stay empty
        $channels = ['2cd7d5c0d50fe7e43a50b71efed980cb'];
    }
    foreach (['shim', 'http'] as $mode) {
        $label = "$case [$mode]";
        $serve->stop();
        $serve->start();   // same ports, empty history
        $lp = null;
        if ($live) {
            $lp = lpOpen($serve, implode('/', array_map(fn($c) => sign($c, $KEY), array_keys($live))));
        }
        $phpIni = $phpExt ? ['extension' => $phpExt] : [];
        $opts = $mode === 'shim' ? ['serve' => $serve, 'spool' => $spool, 'php_ini' => $phpIni] : ['ext' => false, 'php_ini' => $phpIni];
        $r = hit($root, 'vector.php', ['case' => $case, 'vectors' => $vectorsFile], $opts);
        T::eq($mode === 'shim', $r['shim'] ?? null, "$label: the shim is " . ($mode === 'shim' ? '' : 'not ') . 'declared' . ($mode === 'shim' ? '' : ' without the extension'));
        $wantExc = array_map(fn($e) => str_replace([' (in send)', ' (in background job)'], ['', ' (background job)'], $e), $v['end_to_end']['exceptions']);
        T::eq($wantExc, $r['exceptions'] ?? null, "$label: exceptions as the vectors say");
        T::eq([], $r['warnings'] ?? null, "$label: no send warning");
        T::eq($v['end_to_end']['queue_after_channels'], $r['queue_after_channels'] ?? null, "$label: queue left after the flush");
        if ($mode === 'shim' && !$wantExc) {
            T::ok(($r['flush']['complete'] ?? false) === true, "$label: the extension's forwarder got the owner's acknowledgement", T::show($r['flush'] ?? null) . $r['_stderr']);
        }
        $liveGot = [];
        if ($lp) {
            foreach (lpRead($lp) as $e) {
                $liveGot[$e['mid']] = $e['text'];
            }
        }
        $ok = true;
        $detail = '';
        foreach ($channels as $ch) {
            $hist = history($serve, sign($ch, $KEY));
            $got = array_map(fn($e) => $e['text'], $hist);
            $want = $stored[$ch] ?? [];
            if ($got !== $want) {
                $ok = false;
                $detail .= "$ch stored: want " . T::show($want) . ' got ' . T::show($got) . "\n";
            }
        }
        T::ok($ok, "$label: every subscriber's history holds exactly the delivered bodies (" . count($channels) . ' channels)', $detail);
        if ($live) {
            $wantLive = array_values(array_unique(array_merge(...array_values($live))));
            $gotLive = array_values(array_intersect(array_values($liveGot), $wantLive));
            T::eq($wantLive, $gotLive, "$label: the live-only (expiry 0) body reached the parked subscriber");
            $histTexts = array_merge(...array_map(fn($c) => array_map(fn($e) => $e['text'], history($serve, sign($c, $KEY))), array_keys($live)));
            T::ok(!array_intersect($wantLive, $histTexts), "$label: the expiry-0 body is not stored");
        }
    }
}

T::done();
