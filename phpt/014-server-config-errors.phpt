--TEST--
Server::start config: unknown keys and bad values name the key
--FILE--
<?php
function t(array $c) {
    try { BxPush\Server::start($c); echo "started\n"; BxPush\Server::stop(); }
    catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; }
}
t(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0', 'no_such_key' => 1]);
t(['listen_sub' => 'not an address']);
t(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0', 'long_poll_timeout' => 0]);
t(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0', 'signature_algo' => 'md5']);
t(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0', 'max_payload' => [1]]);
$s = stream_socket_server('tcp://127.0.0.1:0');
$busy = stream_socket_get_name($s, false);
t(['listen_sub' => $busy, 'listen_pub' => '127.0.0.1:0']);
t(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0', 'long_poll_timeout' => 5, 'fsync' => true, 'signature_key' => 'x']);
?>
--EXPECTF--
BxPush\Server::start(): unknown config key "no_such_key" (unknown field `no_such_key`, expected one of %s)
BxPush\Server::start(): config key "listen_sub": invalid socket address syntax
BxPush\Server::start(): long_poll_timeout must be at least 1 second
BxPush\Server::start(): signature_algo: unknown signature algorithm "md5": expected "sha1" or "sha256"
BxPush\Server::start(): config key "max_payload": expected a string, number or bool, got array
BxPush\Server::start(): cannot start the runtime: cannot listen on %s (listen_sub): %s
started
