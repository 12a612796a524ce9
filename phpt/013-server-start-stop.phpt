--TEST--
Server::start / isRunning / stop; starting twice is refused
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
var_dump(BxPush\Server::isRunning());
$a = BxPush\Server::start(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0']);
var_dump(array_keys($a), preg_match('/^127\.0\.0\.1:\d+$/', $a['sub']), $a['pid'] === getmypid());
var_dump(BxPush\Server::isRunning());
try { BxPush\Server::start(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0']); } catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; }
[$st, $h, $body] = (function () use ($a) { require __DIR__ . '/include/helpers.php'; return bx_http($a['pub'], 'GET', '/server-stat/'); })();
var_dump($st);
var_dump(BxPush\Server::stop());
var_dump(BxPush\Server::isRunning());
var_dump(BxPush\Server::stop());
var_dump(@stream_socket_client("tcp://{$a['sub']}", $en, $es, 1) === false);
// and again
$b = BxPush\Server::start(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0']);
var_dump(BxPush\Server::isRunning(), BxPush\Server::stop(100));
?>
--EXPECT--
bool(false)
array(3) {
  [0]=>
  string(3) "sub"
  [1]=>
  string(3) "pub"
  [2]=>
  string(3) "pid"
}
int(1)
bool(true)
bool(true)
BxPush\Server::start(): the runtime is already running in this process (Server::stop() first)
int(200)
bool(true)
bool(false)
bool(false)
bool(true)
bool(true)
bool(true)
