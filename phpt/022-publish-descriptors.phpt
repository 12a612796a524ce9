--TEST--
publish(): signed descriptors are verified; public channels reach the owner's connection
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
$c = json_decode(BxPush\Config::forUser(3), true);
$sub = $c['channels']['private']['id'] . '/' . $c['channels']['shared']['id'];
var_dump(BxPush\publish($c['channels']['private']['id'], 'to-pair'));     // private:public.sig → private
var_dump(BxPush\publish($c['channels']['shared']['id'], 'to-shared'));    // id.sig
var_dump(BxPush\publish($c['channels']['private']['public_id'], 'to-public')); // public.sig → public channel
foreach (bx_fetch($srv, $sub) as $g) echo $g['text'], "\n";
BxPush\Server::stop();
?>
--EXPECT--
int(1)
int(1)
int(1)
to-pair
to-shared
to-public
