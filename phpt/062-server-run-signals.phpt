--TEST--
Server::run blocks until SIGTERM or SIGINT; PHP's own pcntl handlers keep working and may stop it
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
function run_child(string $extraCode, int $signal, array $then = []) {
    $sub = '127.0.0.1:' . bx_free_port();
    $code = '<?php ini_set("bxpush.signature_key", "k");' . $extraCode
        . 'BxPush\Server::run(["listen_sub" => "' . $sub . '", "listen_pub" => "127.0.0.1:0"]);'
        . 'echo "run returned\n";';
    $file = tempnam(sys_get_temp_dir(), 'bxrun') . '.php';
    file_put_contents($file, $code);
    $p = proc_open([PHP_BINARY, '-n', '-d', 'extension=' . bx_ext_path(), $file], [1 => ['pipe', 'w'], 2 => ['redirect', 1]], $pipes);
    for ($i = 0; $i < 200 && !@stream_socket_client("tcp://$sub", $en, $es, 1); $i++) usleep(20000);
    $t = microtime(true);
    proc_terminate($p, $signal);
    foreach ($then as $sig) { usleep(200000); proc_terminate($p, $sig); }
    $out = stream_get_contents($pipes[1]);
    $code = proc_close($p);
    unlink($file);
    printf("%s exit %d within 3s: %s\n", trim(str_replace("\n", ' | ', $out)), $code, microtime(true) - $t < 3 ? 'yes' : 'no');
}
run_child('', SIGTERM);
run_child('', SIGINT);
// a pcntl handler owns SIGTERM: it runs, and stops the server when it wants to
run_child('pcntl_async_signals(false); pcntl_signal(SIGTERM, function () { echo "php handler\n"; BxPush\Server::stop(); });', SIGTERM);
// a pcntl handler on another signal runs while run() waits; SIGTERM still stops it
run_child('pcntl_signal(SIGUSR1, function () { echo "usr1\n"; });', SIGUSR1, [SIGTERM]);
// an exception thrown by a handler ends run() and propagates
$sub = '127.0.0.1:' . bx_free_port();
[$code, $out] = (function () use ($sub) {
    $file = tempnam(sys_get_temp_dir(), 'bxrun') . '.php';
    file_put_contents($file, '<?php ini_set("bxpush.signature_key", "k");
        pcntl_signal(SIGUSR2, function () { throw new RuntimeException("from handler"); });
        try { BxPush\Server::run(["listen_sub" => "' . $sub . '", "listen_pub" => "127.0.0.1:0"]); }
        catch (RuntimeException $e) { echo "caught: ", $e->getMessage(), "\n"; }
        var_dump(BxPush\Server::isRunning());');
    $p = proc_open([PHP_BINARY, '-n', '-d', 'extension=' . bx_ext_path(), $file], [1 => ['pipe', 'w'], 2 => ['redirect', 1]], $pipes);
    for ($i = 0; $i < 200 && !@stream_socket_client("tcp://$sub", $en, $es, 1); $i++) usleep(20000);
    proc_terminate($p, SIGUSR2);
    $out = stream_get_contents($pipes[1]);
    $code = proc_close($p);
    unlink($file);
    return [$code, $out];
})();
echo $out, "exit $code\n";
?>
--EXPECTF--
run returned | exit 0 within 3s: yes
run returned | exit 0 within 3s: yes
php handler | run returned | exit 0 within 3s: yes
usr1 | run returned | exit 0 within 3s: yes
caught: from handler
bool(false)
exit 0
