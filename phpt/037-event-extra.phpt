--TEST--
Message preparation: lowercased module_id, caller's extra kept, preset server_time kept, expiry, groupId merge, type
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
use BxPush\Compat\Event;
$srv = bx_start();
var_dump(Event::add(1, ['module_id' => 'CRM', 'command' => 'deal.update!', 'params' => ['id' => 5],
    'extra' => ['server_time' => '2024-01-01T03:00:00+03:00', 'custom' => 'yes'], 'expiry' => '120']));
var_dump(Event::add(2, ['module_id' => 'im', 'command' => 'a', 'groupId' => 'g1', 'params' => ['x' => 1]]));
var_dump(Event::add(3, ['module_id' => 'im', 'command' => 'a', 'groupId' => 'g1', 'params' => ['x' => 2]]));
Event::send();
$g = bx_fetch($srv, bx_user_channels(1))[0];
echo $g['text'], "\n";
$m = $g['message'];
var_dump($m['module_id'], $m['command'], array_keys($m['extra']), $m['extra']['server_time'], $m['extra']['custom']);
$s = BxPush\Server::stats()['daily']['messages'];
ksort($s);
var_dump($s);
// groupId: one message (the first one's params) for both users
$a = bx_fetch($srv, bx_user_channels(2))[0]; $b = bx_fetch($srv, bx_user_channels(3))[0];
var_dump($a['mid'] === $b['mid'], $b['message']['params']['x']);
BxPush\Server::stop();
?>
--EXPECTF--
bool(true)
bool(true)
bool(true)
%s
string(3) "crm"
string(12) "deal.update!"
array(6) {
  [0]=>
  string(11) "server_time"
  [1]=>
  string(6) "custom"
  [2]=>
  string(16) "server_time_unix"
  [3]=>
  string(11) "server_name"
  [4]=>
  string(12) "revision_web"
  [5]=>
  string(15) "revision_mobile"
}
string(25) "2024-01-01T03:00:00+03:00"
string(3) "yes"
array(2) {
  ["crm_dealupdate"]=>
  int(1)
  ["im_a"]=>
  int(1)
}
bool(true)
int(1)
