--TEST--
bxpush is loaded: version, classes, functions
--FILE--
<?php
var_dump(extension_loaded('bxpush'));
var_dump(phpversion('bxpush') === BxPush\status()['version']);
foreach (['BxPush\Exception', 'BxPush\Server', 'BxPush\Config', 'BxPush\Compat\Push', 'BxPush\Compat\Event', 'BxPush\Compat\CPullWatch', 'BxPush\Compat\CPullStack'] as $c) {
    echo $c, ': ', class_exists($c, false) ? 'yes' : 'no', "\n";
}
$f = get_extension_funcs('bxpush');
sort($f);
echo implode("\n", $f), "\n";
?>
--EXPECT--
bool(true)
bool(true)
BxPush\Exception: yes
BxPush\Server: yes
BxPush\Config: yes
BxPush\Compat\Push: yes
BxPush\Compat\Event: yes
BxPush\Compat\CPullWatch: yes
BxPush\Compat\CPullStack: yes
BxPush\Compat\autoload
BxPush\channel_stats
BxPush\encode_pull_batches
BxPush\flush
BxPush\publish
BxPush\send_pull_messages
BxPush\sign_channel
BxPush\sign_public_channel
BxPush\signature
BxPush\status
BxPush\verify_channel
BxPush\verify_public_channel
