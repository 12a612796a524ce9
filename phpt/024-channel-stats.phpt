--TEST--
channel_stats(): [channel as given => online]
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start(['online_ttl' => 1]);
$c = json_decode(BxPush\Config::forUser(9), true);
$priv = bx_user_private(9);
$other = bx_user_private(10);
var_dump(BxPush\channel_stats([$priv, $other]));
$lp = bx_lp_open($srv, bx_user_channels(9));
var_dump(BxPush\channel_stats([$priv, $other, $c['channels']['private']['id']]));
var_dump(BxPush\channel_stats("$priv/$other"));
BxPush\publish($priv, 'wake');
bx_lp_read($lp);
try { BxPush\channel_stats(['nope']); } catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; }
BxPush\Server::stop();
?>
--EXPECTF--
array(2) {
  ["%s"]=>
  bool(false)
  ["%s"]=>
  bool(false)
}
array(3) {
  ["%s"]=>
  bool(true)
  ["%s"]=>
  bool(false)
  ["%s:%s.%s"]=>
  bool(true)
}
array(2) {
  ["%s"]=>
  bool(true)
  ["%s"]=>
  bool(false)
}
BxPush\channel_stats(): malformed channel id "nope": expected 32 lowercase hex digits or a signed descriptor (id.signature, private:public.signature)
