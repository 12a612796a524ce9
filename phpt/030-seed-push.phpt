--TEST--
Seed snippet (unchanged): new Push(1)->addUser(1)->setMessage()->send() reaches user 1's subscriber
--INI--
bxpush.signature_key=test-signature-key
bxpush.server_name=example.com
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
$lp = bx_lp_open($srv, bx_user_channels(1));
$before = microtime(true);

use Bitrix\Pull\Event;
use Bitrix\Pull\Push;
$push = new Push(1);
$push->addUser(1);
$push->setMessage(['module_id' => 'im', 'command' => 'test', 'params' => ['text' => 'Test message']]);
$push->send();

$got = bx_lp_read($lp);
var_dump(count($got));
$m = $got[0]['message'];
echo implode(',', array_keys($m)), "\n";
var_dump($m['module_id'], $m['command'], $m['params']);
echo implode(',', array_keys($m['extra'])), "\n";
var_dump($m['extra']['server_name'], $m['extra']['revision_web'], $m['extra']['revision_mobile']);
var_dump(is_float($m['extra']['server_time_unix']), $m['extra']['server_time_unix'] >= $before - 1, abs(strtotime($m['extra']['server_time']) - time()) < 5);
var_dump(preg_match('/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/', $m['extra']['server_time']));
var_dump(get_class($push));
// the exact bytes: what json_encode($message, JSON_UNESCAPED_UNICODE) gives for the same values
var_dump($got[0]['text'] === json_encode($m, JSON_UNESCAPED_UNICODE));
var_dump(BxPush\Server::stats()['daily']['messages']['im_test']);
BxPush\Server::stop();
?>
--EXPECT--
int(1)
module_id,command,params,extra
string(2) "im"
string(4) "test"
array(1) {
  ["text"]=>
  string(12) "Test message"
}
server_time,server_time_unix,server_name,revision_web,revision_mobile
string(11) "example.com"
int(19)
int(3)
bool(true)
bool(true)
bool(true)
int(1)
string(18) "BxPush\Compat\Push"
bool(true)
int(1)
