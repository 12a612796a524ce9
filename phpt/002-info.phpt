--TEST--
phpinfo / php --ri: version, runtime state, every setting
--FILE--
<?php
ob_start();
(new ReflectionExtension('bxpush'))->info();
$info = ob_get_clean();
foreach (['bxpush support => enabled', 'version => ', 'runtime hosted in this process => no', 'owner (bxpush.server) => /run/bxpush/php.sock',
          'forwarder => not started', 'Directive => Local Value => Master Value'] as $needle) {
    echo $needle, ': ', str_contains($info, $needle) ? 'ok' : "MISSING\n$info", "\n";
}
foreach (array_keys(ini_get_all('bxpush')) as $k) {
    echo $k, ': ', str_contains($info, "$k => ") ? 'ok' : 'MISSING', "\n";
}
ini_set('bxpush.signature_key', 'k');
BxPush\Server::start(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0']);
ob_start();
(new ReflectionExtension('bxpush'))->info();
$info = ob_get_clean();
echo preg_match('/runtime hosted in this process => yes \(sub 127\.0\.0\.1:\d+, pub 127\.0\.0\.1:\d+\)/', $info) ? "hosted shown\n" : "MISSING\n$info";
BxPush\Server::stop();
?>
--EXPECT--
bxpush support => enabled: ok
version => : ok
runtime hosted in this process => no: ok
owner (bxpush.server) => /run/bxpush/php.sock: ok
forwarder => not started: ok
Directive => Local Value => Master Value: ok
bxpush.bitrix_compat: ok
bxpush.channel_ttl: ok
bxpush.connect_timeout_ms: ok
bxpush.flush_timeout_ms: ok
bxpush.public_url: ok
bxpush.queue_bytes: ok
bxpush.queue_items: ok
bxpush.server: ok
bxpush.server_name: ok
bxpush.signature_algo: ok
bxpush.signature_key: ok
bxpush.spool_dir: ok
hosted shown
