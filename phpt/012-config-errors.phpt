--TEST--
Config::forUser errors: no key, user 0; negative (guest) users work
--FILE--
<?php
try { BxPush\Config::forUser(1); } catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; }
ini_set('bxpush.signature_key', 'k');
try { BxPush\Config::forUser(0); } catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; }
$c = json_decode(BxPush\Config::forUser(-42), true);
var_dump(array_keys($c['publicChannels']));
?>
--EXPECT--
BxPush\Config::forUser(): bxpush.signature_key is empty: the config's channels must be signed
BxPush\Config::forUser(): user id 0 is not a user (the shared channel is part of every user's config)
array(1) {
  [0]=>
  int(-42)
}
