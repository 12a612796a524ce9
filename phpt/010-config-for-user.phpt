--TEST--
Config::forUser: the client config of spec §8 (version 4, personal, long_pooling_secure, signed channels)
--INI--
bxpush.signature_key=test-signature-key
bxpush.public_url=https://example.com
--FILE--
<?php
$json = BxPush\Config::forUser(5);
$c = json_decode($json, true);
echo implode(',', array_keys($c)), "\n";
echo implode(',', array_keys($c['server'])), "\n";
var_dump($c['server']['version'], $c['server']['mode'], $c['server']['hostname']);
echo $c['server']['long_polling'], "\n", $c['server']['long_pooling_secure'], "\n", $c['server']['websocket'], "\n",
     $c['server']['websocket_secure'], "\n", $c['server']['publish'], "\n", $c['server']['publish_secure'], "\n";
var_dump($c['api']);
$p = $c['channels']['private'];
$s = $c['channels']['shared'];
var_dump($p['type'], $s['type']);
var_dump(BxPush\verify_channel($p['id']), BxPush\verify_channel($s['id']), BxPush\verify_public_channel($p['public_id']));
var_dump(preg_match('/^[0-9a-f]{32}:[0-9a-f]{32}\.[0-9a-f]{40}$/', $p['id']), preg_match('/^[0-9a-f]{32}\.[0-9a-f]{40}$/', $s['id']));
[$priv, $rest] = explode(':', $p['id']);
$pub = substr($rest, 0, 32);
var_dump(substr($p['public_id'], 0, 32) === $pub);
$pc = $c['publicChannels']['5'];
var_dump($pc['user_id'], $pc['public_id'] === $pub, $pc['signature'] === BxPush\signature("public:$pub"));
$start = strtotime($p['start']); $end = strtotime($p['end']);
var_dump($end - $start, $start <= time(), time() < $end, $p['start'] === date('c', $start));
var_dump(str_contains($json, '"long_pooling_secure":"https:\/\/example.com\/bitrix\/sub\/"'));
// stable for the same user, different for others
var_dump(json_decode(BxPush\Config::forUser(5), true)['channels'] === $c['channels']);
var_dump(json_decode(BxPush\Config::forUser(6), true)['channels']['private']['id'] !== $p['id']);
var_dump(json_decode(BxPush\Config::forUser(6), true)['channels']['shared']['id'] === $s['id']);
var_dump(BxPush\Config::toArray(5) == $c);
?>
--EXPECT--
server,api,channels,publicChannels,exp
version,server_enabled,mode,hostname,long_polling,long_pooling_secure,websocket_enabled,websocket,websocket_secure,publish_enabled,publish,publish_secure,config_timestamp
int(4)
string(8) "personal"
string(11) "example.com"
http://example.com/bitrix/sub/
https://example.com/bitrix/sub/
ws://example.com/bitrix/subws/
wss://example.com/bitrix/subws/
http://example.com/bitrix/pubweb/
https://example.com/bitrix/pubweb/
array(2) {
  ["revision_web"]=>
  int(19)
  ["revision_mobile"]=>
  int(3)
}
string(7) "private"
string(6) "shared"
bool(true)
bool(true)
bool(true)
int(1)
int(1)
bool(true)
int(5)
bool(true)
bool(true)
int(43205)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
