--TEST--
Event::add queues; identical messages are merged into one message with many receivers; Event::send sends
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
use BxPush\Compat\Event;
$srv = bx_start();
$msg = ['module_id' => 'im', 'command' => 'typing', 'params' => ['chat' => 5]];
var_dump(Event::add(1, $msg));
usleep(20000); // a different server_time_unix must not prevent the merge
var_dump(Event::add([2, 3], $msg));
var_dump(Event::add(4, ['module_id' => 'im', 'command' => 'typing', 'params' => ['chat' => 6]]));
var_dump(Event::add(5, $msg + ['expiry' => 60]));   // another expiry: another message
var_dump(Event::getQueueSize());
var_dump(count(bx_fetch($srv, bx_user_channels(1))));   // nothing before send()
var_dump(Event::send());
var_dump(Event::getQueueSize());
$mids = [];
foreach ([1, 2, 3, 4, 5] as $u) {
    $g = bx_fetch($srv, bx_user_channels($u));
    $mids[$u] = $g[0]['mid'];
    echo "$u: ", count($g), ' chat ', $g[0]['message']['params']['chat'], "\n";
}
var_dump($mids[1] === $mids[2] && $mids[2] === $mids[3], $mids[4] !== $mids[1], $mids[5] !== $mids[1]);
var_dump(BxPush\Server::stats()['bxpush']['published']);
BxPush\Server::stop();
?>
--EXPECTF--
bool(true)
bool(true)
bool(true)
bool(true)
int(3)
int(0)
bool(true)
int(0)
1: 1 chat 5
2: 1 chat 5
3: 1 chat 5
4: 1 chat 6
5: 1 chat 5
bool(true)
bool(true)
bool(true)
int(3)
