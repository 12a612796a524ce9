--TEST--
Seed snippet (unchanged): CPullWatch::AddToStack + CPullStack::Send reach the users watching the tag
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
var_dump(\CPullWatch::Add(1, 'TEST_CHANNEL', true));
var_dump(\CPullWatch::Add(2, 'TEST_CHANNEL', true));

\CPullWatch::AddToStack('TEST_CHANNEL', ['module_id' => 'main', 'command' => 'test', 'params' => []]);
\CPullStack::Send();

foreach ([1, 2, 3] as $u) {
    $got = bx_fetch($srv, bx_user_channels($u));
    echo "user $u: ", count($got), "\n";
    foreach ($got as $g) {
        $m = $g['message'];
        echo "  {$m['module_id']} {$m['command']} ", json_encode($m['params']), ' ', str_contains($g['text'], '"params":[]') ? 'params:[]' : '', "\n";
    }
}
var_dump(BxPush\Server::stats()['daily']['messages']['main_test']);
BxPush\Server::stop();
?>
--EXPECT--
bool(true)
bool(true)
user 1: 1
  main test [] params:[]
user 2: 1
  main test [] params:[]
user 3: 0
int(1)
