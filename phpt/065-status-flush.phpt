--TEST--
status() and flush()
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$s = BxPush\status();
echo implode(',', array_keys($s)), "\n";
var_dump($s['hosting'], $s['forwarder'], $s['pid'] === getmypid());
$f = BxPush\flush();
var_dump($f['complete'], $f['report']);
$srv = bx_start();
$s = BxPush\status();
var_dump($s['hosting'], $s['sub'] === $srv['sub']);
\Bitrix\Pull\Event::add(1, ['module_id' => 'im', 'command' => 'x']);
var_dump(BxPush\status()['queued_events']);
var_dump(BxPush\flush(10)['report']);    // flush() also sends what Event::add queued
var_dump(BxPush\status()['queued_events'], count(bx_fetch($srv, bx_user_channels(1))));
try { BxPush\flush(-1); } catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; }
BxPush\Server::stop();
?>
--EXPECT--
version,pid,hosting,server,forwarder,queued_events,submitted_in_request
bool(false)
bool(false)
bool(true)
bool(true)
string(23) "nothing was handed over"
bool(true)
bool(true)
int(1)
string(33) "hosted: sends are applied at once"
int(0)
int(1)
BxPush\flush(): timeout must be >= 0, got -1
