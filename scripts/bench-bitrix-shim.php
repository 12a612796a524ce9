<?php
// Cost of one pull flush in a Bitrix site (Event::add of a case-a-like message + Event::send):
// through bxpush.pull's transport shim (the extension: encode in Rust, hand to the forwarder)
// against the pull module's stock HTTP transport (protobuf encoded in PHP, one POST to
// bxpush's /bitrix/pub/ per flush), both to a `bxpush serve` on loopback, on a stand-in site
// (tests/bitrix). Prints the medians. Not a test.
//   php -n scripts/bench-bitrix-shim.php [N]
require __DIR__ . '/../tests/bitrix/lib/testlib.php';

use BxTest\Serve;
use function BxTest\{hit, root, serverStat, site, so, tmpdir};

$n = (int)($argv[1] ?? getenv('BENCH_N') ?: 2000);
$dir = tmpdir('bench');
$key = 'bench-bitrix-shim-key-0123456789ab';
@mkdir("$dir/serve");
$serve = (new Serve("$dir/serve", $key))->start();
$root = site("$dir/site", ['server_name' => 'bench.test']);
$r = hit($root, 'module.php', ['action' => 'install', 'request' => ['step' => 2, 'path_to_publish' => $serve->publishUrl()]], ['serve' => $serve]);
if (($r['installed_after'] ?? false) !== true) {
    fwrite(STDERR, "bench: install failed: " . json_encode($r) . "\n");
    exit(1);
}

$run = function (bool $ext) use ($root, $serve, $dir, $n): array {
    $cmd = [PHP_BINARY, '-n', '-d', 'date.timezone=UTC'];
    if ($ext) {
        array_push($cmd, '-d', 'extension=' . so(), '-d', "bxpush.server={$serve->sock}", '-d', "bxpush.signature_key={$serve->key}", '-d', "bxpush.spool_dir=$dir/spool");
    }
    $cmd[] = root() . '/scripts/bench-bitrix-shim-hit.php';
    $before = (int)(serverStat($serve)['bxpush']['published'] ?? 0);
    $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, ['BX_DOCUMENT_ROOT' => $root, 'BENCH_N' => (string)$n, 'PATH' => getenv('PATH')]);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    proc_close($p);
    $res = json_decode(trim($out), true);
    if (!$res) {
        fwrite(STDERR, "bench run failed: $out $err\n");
        exit(1);
    }
    $t = $res['times'];
    $res['median_us'] = $t[intdiv(count($t), 2)] / 1000;
    $res['p90_us'] = $t[intdiv(count($t) * 9, 10)] / 1000;
    $res['published'] = (int)(serverStat($serve)['bxpush']['published'] ?? 0) - $before;
    return $res;
};

$shim = $run(true);
$http = $run(false);
if (!$shim['shim'] || $http['shim']) {
    fwrite(STDERR, "bench: wrong transport (shim run: {$shim['shim']}, http run: {$http['shim']})\n");
    exit(1);
}
printf("bitrix pull flush (Event::add + Event::send, case-a-like message, %d flushes each, bxpush serve on loopback)\n", $n);
printf("  shim (bxpush.pull + extension): median %.1f us, p90 %.1f us; all acknowledged %.1f ms after the last flush; published %d\n",
    $shim['median_us'], $shim['p90_us'], $shim['drain_ns'] / 1e6, $shim['published']);
printf("  stock HTTP ProtobufTransport:   median %.1f us, p90 %.1f us; published %d\n", $http['median_us'], $http['p90_us'], $http['published']);
printf("  median ratio HTTP/shim: %.1fx\n", $http['median_us'] / max(0.001, $shim['median_us']));
