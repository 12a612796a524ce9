--TEST--
Event::add recipients: user ids (int, numeric string), 32-hex channel ids, signed channels, mixed arrays
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
use BxPush\Compat\Event;
$srv = bx_start();
$c8 = json_decode(BxPush\Config::forUser(8), true);
$m = ['module_id' => 'Main', 'command' => 'r', 'params' => ['n' => 1]];
var_dump(Event::add([1, '2', bx_user_private(3), $c8['channels']['private']['id']], $m));
var_dump(Event::add('4', $m));
var_dump(Event::send());
foreach ([1, 2, 3, 4, 8, 9] as $u) {
    $g = bx_fetch($srv, bx_user_channels($u));
    echo "$u: ", count($g), ' ', $g[0]['message']['module_id'] ?? '', "\n";
}
BxPush\Server::stop();
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
1: 1 main
2: 1 main
3: 1 main
4: 1 main
8: 1 main
9: 0 
