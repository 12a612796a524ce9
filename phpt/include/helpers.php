<?php
// Helpers shared by the phpt suite: start the runtime in this process, read what a
// subscriber receives over long polling (HTTP/1.0, as the site checker does).

const BX_KEY = 'test-signature-key';
const BX_MID0 = '00000000000000000000000000';

/** Start the runtime on free loopback ports; long polls answer 304 after 1 s. */
function bx_start(array $extra = []): array
{
    if (ini_get('bxpush.signature_key') === '') {
        ini_set('bxpush.signature_key', BX_KEY);
    }
    return BxPush\Server::start($extra + [
        'listen_sub' => '127.0.0.1:0',
        'listen_pub' => '127.0.0.1:0',
        'long_poll_timeout' => 1,
    ]);
}

/** One HTTP/1.0 request; returns [status, headers (lowercase keys), body]. */
function bx_http(string $addr, string $method, string $target, string $body = '', array $headers = [], float $timeout = 5.0): array
{
    $s = stream_socket_client("tcp://$addr", $errno, $errstr, 2);
    if (!$s) {
        throw new RuntimeException("connect $addr: $errstr");
    }
    stream_set_timeout($s, (int)ceil($timeout));
    $req = "$method $target HTTP/1.0\r\nHost: $addr\r\n";
    foreach ($headers as $k => $v) {
        $req .= "$k: $v\r\n";
    }
    if ($body !== '') {
        $req .= 'Content-Length: ' . strlen($body) . "\r\n";
    }
    fwrite($s, $req . "\r\n" . $body);
    $raw = stream_get_contents($s);
    fclose($s);
    [$head, $resp] = explode("\r\n\r\n", $raw, 2) + [1 => ''];
    $lines = explode("\r\n", $head);
    $status = (int)explode(' ', $lines[0])[1];
    $h = [];
    foreach (array_slice($lines, 1) as $l) {
        [$k, $v] = explode(':', $l, 2) + [1 => ''];
        $h[strtolower(trim($k))] = trim($v);
    }
    return [$status, $h, $resp];
}

/** Split a text-mode body into envelopes: [['mid' => ..., 'text' => raw JSON of the message], ...] */
function bx_envelopes(string $body): array
{
    preg_match_all('/#!NGINXNMS!#(.*?)#!NGINXNME!#/s', $body, $m);
    $out = [];
    foreach ($m[1] as $env) {
        preg_match('/"mid":"(\d{26})"/', $env, $mm);
        $pos = strpos($env, '"text":');
        $text = substr($env, $pos + 7, -1);
        $out[] = ['mid' => $mm[1], 'text' => $text, 'message' => json_decode($text, true)];
    }
    return $out;
}

/** Everything stored for `$channels` after `$mid` (all history by default). */
function bx_fetch(array $srv, string $channels, string $mid = BX_MID0): array
{
    [$st, , $body] = bx_http($srv['sub'], 'GET', '/bitrix/sub/?CHANNEL_ID=' . rawurlencode($channels) . '&mid=' . $mid);
    if ($st === 304) {
        return [];
    }
    if ($st !== 200) {
        throw new RuntimeException("long poll: HTTP $st: $body");
    }
    return bx_envelopes($body);
}

/** The subscription `CHANNEL_ID` of user `$userId` as the JS client builds it from its config. */
function bx_user_channels(int $userId): string
{
    $c = json_decode(BxPush\Config::forUser($userId), true);
    return $c['channels']['private']['id'] . '/' . $c['channels']['shared']['id'];
}

/** The private channel id (32 hex) of user `$userId`. */
function bx_user_private(int $userId): string
{
    $c = json_decode(BxPush\Config::forUser($userId), true);
    return substr($c['channels']['private']['id'], 0, 32);
}

function bx_shared_private(): string
{
    $c = json_decode(BxPush\Config::forUser(1), true);
    return substr($c['channels']['shared']['id'], 0, 32);
}

/** Start a long poll now (no mid: live delivery); read it later with bx_lp_read(). */
function bx_lp_open(array $srv, string $channels)
{
    $before = BxPush\Server::stats()['pollings'];
    $s = stream_socket_client("tcp://{$srv['sub']}", $errno, $errstr, 2);
    fwrite($s, 'GET /bitrix/sub/?CHANNEL_ID=' . rawurlencode($channels) . " HTTP/1.0\r\nHost: x\r\n\r\n");
    // wait until the server has parked it (its long-poll count goes up)
    for ($i = 0; $i < 200; $i++) {
        if (BxPush\Server::stats()['pollings'] > $before) {
            break;
        }
        usleep(5000);
    }
    return $s;
}

function bx_lp_read($s, int $timeout = 3): array
{
    stream_set_timeout($s, $timeout);
    $raw = stream_get_contents($s);
    fclose($s);
    [, $body] = explode("\r\n\r\n", $raw, 2) + [1 => ''];
    return bx_envelopes($body);
}

/** Run a PHP script in a child process with this extension; returns [exit code, stdout+stderr]. */
function bx_php(string $code, array $ini = [], float $timeout = 20.0): array
{
    $file = tempnam(sys_get_temp_dir(), 'bxphpt') . '.php';
    file_put_contents($file, $code);
    $cmd = [PHP_BINARY, '-n', '-d', 'extension=' . bx_ext_path()];
    foreach ($ini as $k => $v) {
        $cmd[] = '-d';
        $cmd[] = "$k=$v";
    }
    $cmd[] = $file;
    $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['redirect', 1]], $pipes);
    $out = '';
    $deadline = microtime(true) + $timeout;
    stream_set_blocking($pipes[1], false);
    while (true) {
        $out .= stream_get_contents($pipes[1]);
        $st = proc_get_status($p);
        if (!$st['running']) {
            $out .= stream_get_contents($pipes[1]);
            $code = $st['exitcode'];
            break;
        }
        if (microtime(true) > $deadline) {
            proc_terminate($p, 9);
            $code = -1;
            $out .= "\n[killed after {$timeout}s]";
            break;
        }
        usleep(20000);
    }
    proc_close($p);
    unlink($file);
    return [$code, $out];
}

/** Path of the loaded bxpush.so (for child processes). */
function bx_ext_path(): string
{
    $env = getenv('BXPUSH_SO');
    if ($env) {
        return $env;
    }
    foreach (preg_split('/\s+/', (string)getenv('TEST_PHP_EXTRA_ARGS')) as $a) {
        $a = trim($a, '"\'');
        if (str_starts_with($a, 'extension=') && str_contains($a, 'bxpush')) {
            return substr($a, 10);
        }
    }
    return dirname(__DIR__, 2) . '/target/release/libbxpush.so';
}

function bx_free_port(): int
{
    $s = stream_socket_server('tcp://127.0.0.1:0');
    $name = stream_socket_get_name($s, false);
    fclose($s);
    return (int)substr($name, strrpos($name, ':') + 1);
}

/**
 * Start an owner process (`BxPush\Server::run()` in a child PHP) with a PHP hand-off
 * socket; returns ['proc' => ..., 'sub' => 'ip:port', 'pub' => ..., 'sock' => path].
 */
function bx_owner_start(string $sock, string $dataDir = '', array $extra = []): array
{
    $sub = '127.0.0.1:' . bx_free_port();
    $pub = '127.0.0.1:' . bx_free_port();
    $cfg = ['listen_sub' => $sub, 'listen_pub' => $pub, 'listen_php' => $sock, 'long_poll_timeout' => 1] + $extra;
    if ($dataDir !== '') {
        $cfg['data_dir'] = $dataDir;
    }
    $code = '<?php ini_set("bxpush.signature_key", ' . var_export(ini_get('bxpush.signature_key') ?: BX_KEY, true) . ');'
        . 'BxPush\Server::run(' . var_export($cfg, true) . '); echo "owner stopped\n";';
    $file = tempnam(sys_get_temp_dir(), 'bxowner') . '.php';
    file_put_contents($file, $code);
    $proc = proc_open([PHP_BINARY, '-n', '-d', 'extension=' . bx_ext_path(), $file], [1 => ['pipe', 'w'], 2 => ['redirect', 1]], $pipes);
    for ($i = 0; $i < 200; $i++) {
        $s = @stream_socket_client("tcp://$sub", $en, $es, 1);
        if ($s) {
            fclose($s);
            break;
        }
        usleep(20000);
    }
    return ['proc' => $proc, 'pipe' => $pipes[1], 'file' => $file, 'sub' => $sub, 'pub' => $pub, 'sock' => $sock];
}

/** SIGTERM the owner and wait for it; returns [exit code, output]. */
function bx_owner_stop(array $o, int $signal = 15): array
{
    proc_terminate($o['proc'], $signal);
    $out = stream_get_contents($o['pipe']);
    $code = proc_close($o['proc']);
    @unlink($o['file']);
    return [$code, $out];
}

/** A fresh temporary directory. */
function bx_tmpdir(string $tag): string
{
    $d = sys_get_temp_dir() . "/bxphpt-$tag-" . getmypid() . '-' . mt_rand();
    mkdir($d, 0777, true);
    return $d;
}

function bx_rmdir(string $d): void
{
    foreach (glob("$d/{,.}*", GLOB_BRACE) ?: [] as $f) {
        if (basename($f) === '.' || basename($f) === '..') continue;
        is_dir($f) ? bx_rmdir($f) : @unlink($f);
    }
    @rmdir($d);
}
