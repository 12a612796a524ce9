--TEST--
publish(): an array message arrives as the exact bytes of json_encode($m, JSON_UNESCAPED_UNICODE)
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
$ch = bx_user_private(7);
$m = ['module_id' => 'im', 'command' => 'message', 'params' => ['text' => "Привет / \"quoted\" <b>&amp;</b> 😀", 'n' => 1.5, 'f' => 0.1 + 0.2, 'list' => [], 'map' => ['a' => null]]];
var_dump(BxPush\publish($ch, $m));
$got = bx_fetch($srv, bx_user_channels(7));
var_dump(count($got));
var_dump($got[0]['text'] === json_encode($m, JSON_UNESCAPED_UNICODE));
echo $got[0]['text'], "\n";
BxPush\Server::stop();
?>
--EXPECT--
int(1)
int(1)
bool(true)
{"module_id":"im","command":"message","params":{"text":"Привет \/ \"quoted\" <b>&amp;<\/b> 😀","n":1.5,"f":0.30000000000000004,"list":[],"map":{"a":null}}}
