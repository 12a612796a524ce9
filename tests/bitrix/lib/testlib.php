<?php
// Shared by tests/bitrix/t/*.php (the orchestrating test processes, no kernel loaded):
// PASS/FAIL lines, temp dirs, a site (stand-in document root + the module), a real
// `bxpush serve` on free loopback ports, child PHP "hits" that boot the stand-in kernel,
// and HTTP/long-poll helpers. A test prints PASS/FAIL lines; run.sh counts them.

namespace BxTest;

const ROOT = __DIR__ . '/../../..';

function root(): string
{
    return realpath(ROOT);
}

function so(): string
{
    return getenv('BXPUSH_SO') ?: root() . '/target/release/libbxpush.so';
}

function bin(): string
{
    return getenv('BXPUSH_BIN') ?: root() . '/target/release/bxpush';
}

function vectors(): array
{
    static $v = null;
    return $v ??= json_decode(file_get_contents(root() . '/tests/vectors/pull-transport-vectors.json'), true);
}

function vector(string $case): array
{
    foreach (vectors() as $v) {
        if (($v['case'] ?? null) === $case) {
            return $v;
        }
    }
    throw new \RuntimeException("no vector $case");
}

final class T
{
    public static int $passed = 0;
    public static int $failed = 0;

    public static function ok(bool $cond, string $name, string $detail = ''): bool
    {
        if ($cond) {
            self::$passed++;
            echo "PASS $name\n";
        } else {
            self::$failed++;
            echo "FAIL $name" . ($detail !== '' ? "\n     $detail" : '') . "\n";
        }
        return $cond;
    }

    public static function eq($want, $got, string $name): bool
    {
        return self::ok($want === $got, $name, 'want ' . self::show($want) . "\n     got  " . self::show($got));
    }

    public static function show($v): string
    {
        $s = json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PARTIAL_OUTPUT_ON_ERROR);
        return strlen($s) > 1500 ? substr($s, 0, 1500) . '…' : $s;
    }

    public static function done(): void
    {
        exit(self::$failed > 0 ? 1 : 0);
    }
}

/** A temp dir removed at exit (KEEP_TMP=1 keeps it). */
function tmpdir(string $name): string
{
    $d = sys_get_temp_dir() . '/bxpush-bitrix-' . $name . '-' . bin2hex(random_bytes(4));
    mkdir($d, 0777, true);
    register_shutdown_function(function () use ($d) {
        if (!getenv('KEEP_TMP')) {
            exec('rm -rf ' . escapeshellarg($d));
        } else {
            fwrite(STDERR, "kept $d\n");
        }
    });
    return $d;
}

/**
 * A site: stand-in document root with the module copied by `make install-bitrix` (not yet
 * installed in the admin sense). $opts go to bx_standin_docroot().
 */
function site(string $dir, array $opts = []): string
{
    require_once root() . '/tests/bitrix/kernel/docroot.php';
    $root = bx_standin_docroot($dir, $opts);
    exec('make -s -C ' . escapeshellarg(root()) . ' install-bitrix BITRIX_ROOT=' . escapeshellarg($root) . ' 2>&1', $out, $rc);
    if ($rc !== 0) {
        throw new \RuntimeException("make install-bitrix failed: " . implode("\n", $out));
    }
    return $root;
}

/** The site's stand-in database tables (read from its JSON file). */
function db(string $root): array
{
    return json_decode(file_get_contents("$root/bitrix/.standin/db.json"), true) ?: [];
}

/** A `bxpush serve` child process; ready when its banner printed the PHP socket line. */
final class Serve
{
    public string $sub = '';
    public string $pub = '';
    public string $sock;
    private $proc = null;
    private $out = null;

    public function __construct(public string $dir, public string $key, public array $flags = [])
    {
        $this->sock = "$dir/php.sock";
    }

    public function start(): self
    {
        $sub = $this->sub ?: '127.0.0.1:0';
        $pub = $this->pub ?: '127.0.0.1:0';
        $cmd = array_merge([bin(), 'serve', '--listen-sub', $sub, '--listen-pub', $pub, '--listen-php', $this->sock,
            '--signature-key', $this->key, '--long-poll-timeout', '2'], $this->flags);
        $this->proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', "{$this->dir}/serve.log", 'a']], $pipes);
        $this->out = $pipes[1];
        $banner = '';
        while (($l = fgets($this->out)) !== false) {
            $banner .= $l;
            if (preg_match('#Long polling: http://([0-9.:]+)/#', $l, $m)) {
                $this->sub = $m[1];
            } elseif (preg_match('#Publish:\s+http://([0-9.:]+)/#', $l, $m)) {
                $this->pub = $m[1];
            } elseif (str_contains($l, 'PHP workers:')) {
                return $this;
            }
        }
        throw new \RuntimeException("bxpush serve did not start:\n$banner\n" . @file_get_contents("{$this->dir}/serve.log"));
    }

    public function stop(): void
    {
        if ($this->proc) {
            proc_terminate($this->proc, 15);
            fclose($this->out);
            proc_close($this->proc);   // waits for the exit
            $this->proc = null;
        }
    }

    public function publishUrl(): string
    {
        return "http://{$this->pub}/bitrix/pub/";
    }

    public function __destruct()
    {
        $this->stop();
    }
}

/**
 * Runs tests/bitrix/hits/$script as one "hit" of the site in a child PHP process.
 * $o: 'ext' (load the extension, default true), 'ini' (bxpush -d settings), 'php_ini' (other -d settings), 'serve' (a Serve:
 * bxpush.server/signature_key of it), 'spool', 'user', 'lang', 'env'.
 * Returns the hit's JSON result (+ '_stderr', '_rc').
 */
function hit(string $root, string $script, array $args = [], array $o = []): array
{
    $cmd = [PHP_BINARY, '-n', '-d', 'display_errors=stderr', '-d', 'error_reporting=-1', '-d', 'date.timezone=UTC'];
    foreach ($o['php_ini'] ?? [] as $k => $v) {   // PHP settings (e.g. extension=gmp), with or without bxpush
        $cmd[] = '-d';
        $cmd[] = "$k=$v";
    }
    if ($o['ext'] ?? true) {
        $cmd[] = '-d';
        $cmd[] = 'extension=' . so();
        $ini = ['bxpush.flush_timeout_ms' => '2000'];
        if (isset($o['serve'])) {
            $ini['bxpush.server'] = $o['serve']->sock;
            $ini['bxpush.signature_key'] = $o['serve']->key;
        }
        if (isset($o['spool'])) {
            $ini['bxpush.spool_dir'] = $o['spool'];
        }
        foreach (($o['ini'] ?? []) + $ini as $k => $v) {
            $cmd[] = '-d';
            $cmd[] = "$k=$v";
        }
    }
    $cmd[] = root() . '/tests/bitrix/hits/' . $script;
    $env = [
        'BX_DOCUMENT_ROOT' => $root,
        'BX_HIT_ARGS' => json_encode($args, JSON_UNESCAPED_SLASHES),
        'BX_LANG' => $o['lang'] ?? 'en',
        'PATH' => getenv('PATH'),
        'BX_STANDIN_USER_ID' => (string)($o['user'] ?? 1),
    ] + ($o['env'] ?? []);
    $p = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    $rc = proc_close($p);
    $res = null;
    if (preg_match('/^HIT-RESULT: (.*)$/m', $out, $m)) {
        $res = json_decode($m[1], true);
    }
    if (!is_array($res)) {
        $res = ['_no_result' => true, '_stdout' => $out];
    }
    $res['_stderr'] = $err;
    $res['_rc'] = $rc;
    return $res;
}

/** "id.sig" as CPullChannel::SignChannel with $key. */
function sign(string $id, string $key, string $algo = 'sha1'): string
{
    return $id . '.' . hash_hmac($algo, $id, $key);
}

/** One HTTP/1.0 request; [status, headers, body]. */
function http(string $addr, string $method, string $target, string $body = '', array $headers = [], int $timeout = 5): array
{
    $s = stream_socket_client("tcp://$addr", $errno, $errstr, 2);
    if (!$s) {
        throw new \RuntimeException("connect $addr: $errstr");
    }
    stream_set_timeout($s, $timeout);
    $req = "$method $target HTTP/1.0\r\nHost: $addr\r\n";
    foreach ($headers as $k => $v) {
        $req .= "$k: $v\r\n";
    }
    $req .= 'Content-Length: ' . strlen($body) . "\r\n";
    fwrite($s, $req . "\r\n" . $body);
    $raw = stream_get_contents($s);
    fclose($s);
    [$head, $resp] = explode("\r\n\r\n", $raw, 2) + [1 => ''];
    $lines = explode("\r\n", $head);
    $h = [];
    foreach (array_slice($lines, 1) as $l) {
        [$k, $v] = explode(':', $l, 2) + [1 => ''];
        $h[strtolower(trim($k))] = trim($v);
    }
    return [(int)(explode(' ', $lines[0])[1] ?? 0), $h, $resp];
}

/** Text-mode envelopes of a long-poll body: [['mid' =>, 'text' => raw message text], …]. */
function envelopes(string $body): array
{
    preg_match_all('/#!NGINXNMS!#(.*?)#!NGINXNME!#/s', $body, $m);
    $out = [];
    foreach ($m[1] as $env) {
        $j = json_decode($env, true);
        preg_match('/"mid":"(\d+)"/', $env, $mm);
        $pos = strpos($env, '"text":');
        $out[] = ['mid' => $mm[1] ?? '', 'text' => substr($env, $pos + 7, -1), 'json' => $j];
    }
    return $out;
}

const MID0 = '00000000000000000000000000';

/** Everything stored for one signed channel after $mid (the whole history by default). */
function history(Serve $s, string $signed, string $mid = MID0): array
{
    [$st, , $body] = http($s->sub, 'GET', '/bitrix/sub/?CHANNEL_ID=' . rawurlencode($signed) . '&mid=' . $mid);
    if ($st === 304) {
        return [];
    }
    if ($st !== 200) {
        throw new \RuntimeException("long poll: HTTP $st: $body");
    }
    return envelopes($body);
}

/** The server's /server-stat/ object. */
function serverStat(Serve $s): array
{
    [$st, , $body] = http($s->pub, 'GET', '/server-stat/');
    $j = $st === 200 ? json_decode($body, true) : null;
    return is_array($j) ? ($j[0] ?? $j) : [];   // an array of one object per process
}

/**
 * Opens a live long poll (no mid) for $signed channels and returns once the server has parked
 * it (its pollings gauge went up): the signal that a message published now reaches it.
 */
function lpOpen(Serve $s, string $signed)
{
    $before = (int)(serverStat($s)['pollings'] ?? 0);
    $sock = stream_socket_client("tcp://{$s->sub}", $errno, $errstr, 2);
    fwrite($sock, 'GET /bitrix/sub/?CHANNEL_ID=' . rawurlencode($signed) . " HTTP/1.0\r\nHost: {$s->sub}\r\n\r\n");
    $deadline = microtime(true) + 5;
    while ((int)(serverStat($s)['pollings'] ?? 0) <= $before) {
        if (microtime(true) > $deadline) {
            throw new \RuntimeException('long poll was not parked within 5 s');
        }
        usleep(2000);
    }
    return $sock;
}

function lpRead($sock, int $timeout = 5): array
{
    stream_set_timeout($sock, $timeout);
    $raw = stream_get_contents($sock);
    fclose($sock);
    [$head, $body] = explode("\r\n\r\n", $raw, 2) + [1 => ''];
    return envelopes($body);
}
