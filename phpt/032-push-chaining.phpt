--TEST--
Push instance API: methods chain on $this; users and channels deduplicated
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
$p = new BxPush\Compat\Push([1, 2]);
var_dump($p->addUser(2) === $p, $p->addUser([3, '4']) === $p);
var_dump($p->getUsers());
$r = $p->addChannel(bx_user_private(5))->setMessage(['module_id' => 'IM', 'command' => 'x'])->setChannelType('private');
var_dump($r === $p);
var_dump($p->send());
foreach ([1, 2, 3, 4, 5] as $u) {
    $got = bx_fetch($srv, bx_user_channels($u));
    echo $u, ': ', count($got), ' ', $got[0]['message']['module_id'] ?? '-', ' ', $got[0]['mid'] ?? '', "\n";
}
// one message with many receivers: the same mid everywhere
$mids = [];
foreach ([1, 2, 3, 4, 5] as $u) { $mids[] = bx_fetch($srv, bx_user_channels($u))[0]['mid']; }
var_dump(count(array_unique($mids)));
var_dump((new BxPush\Compat\Push())->getUsers());
BxPush\Server::stop();
?>
--EXPECTF--
bool(true)
bool(true)
array(4) {
  [0]=>
  int(1)
  [1]=>
  int(2)
  [2]=>
  int(3)
  [3]=>
  int(4)
}
bool(true)
bool(true)
1: 1 im %d
2: 1 im %d
3: 1 im %d
4: 1 im %d
5: 1 im %d
int(1)
array(0) {
}
