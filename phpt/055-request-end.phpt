--TEST--
Queued events are sent when the request ends (RSHUTDOWN), never dropped
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$dir = sys_get_temp_dir() . '/bxphpt-' . getmypid();
@mkdir($dir);
$child = <<<'PHP'
<?php
ini_set('bxpush.signature_key', 'test-signature-key');
BxPush\Server::start(['listen_sub' => '127.0.0.1:0', 'listen_pub' => '127.0.0.1:0', 'data_dir' => getenv('D') ?: $argv[1] ?? '']);
\Bitrix\Pull\Event::add(1, ['module_id' => 'im', 'command' => 'at_end']);
\CPullWatch::AddToStack('NOBODY', ['module_id' => 'im', 'command' => 'tags']);
echo "queued: ", \Bitrix\Pull\Event::getQueueSize(), "\n";
// no send(): the request ends here
PHP;
[$code, $out] = bx_php(str_replace("getenv('D')", var_export($dir, true), $child));
echo $out;
var_dump($code);
$srv = bx_start(['data_dir' => $dir]);
$got = bx_fetch($srv, bx_user_channels(1));
var_dump(count($got), $got[0]['message']['command']);
BxPush\Server::stop();
array_map('unlink', glob("$dir/*"));
@rmdir($dir);
?>
--EXPECT--
queued: 2
int(0)
int(1)
string(6) "at_end"
