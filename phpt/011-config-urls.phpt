--TEST--
Config::forUser: URLs from HTTP_HOST, from public_url with port and prefix; channel_ttl
--ENV--
HTTP_HOST=portal.example.org:8443
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
$c = json_decode(BxPush\Config::forUser(1), true);
echo $c['server']['hostname'], ' ', $c['server']['websocket_secure'], "\n";
ini_set('bxpush.public_url', 'http://127.0.0.1:8010/push/');
$c = json_decode(BxPush\Config::forUser(1), true);
echo $c['server']['hostname'], ' ', $c['server']['long_polling'], ' ', $c['server']['websocket'], "\n";
ini_set('bxpush.channel_ttl', '3600');
$c = json_decode(BxPush\Config::forUser(1), true);
var_dump(strtotime($c['channels']['private']['end']) - strtotime($c['channels']['private']['start']));
ini_set('bxpush.channel_ttl', '999999');
$c = json_decode(BxPush\Config::forUser(1), true);
var_dump(strtotime($c['channels']['private']['end']) - strtotime($c['channels']['private']['start']));
?>
--EXPECT--
portal.example.org wss://portal.example.org:8443/bitrix/subws/
127.0.0.1 http://127.0.0.1:8010/push/bitrix/sub/ ws://127.0.0.1:8010/push/bitrix/subws/
int(3600)
int(43205)
