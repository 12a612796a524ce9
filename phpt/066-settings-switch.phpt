--TEST--
A setting changed between sends replaces the forwarder: the old one's unacknowledged events are spooled, and the new one replays them before its own
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$tmp = bx_tmpdir('switch');
$srv = bx_start(['listen_php' => "$tmp/php.sock"]);
$pid = pcntl_fork();
if ($pid === 0) {
    // A worker (the child forgot the parent's runtime) first pointed at no owner.
    ini_set('bxpush.spool_dir', "$tmp/spool");
    ini_set('bxpush.server', "$tmp/nowhere.sock");
    BxPush\publish(bx_user_private(1), 'first, sent while pointed at no owner');
    $old = BxPush\status()['forwarder_stats'];
    ini_set('bxpush.server', "$tmp/php.sock");
    BxPush\publish(bx_user_private(1), 'second, after the switch');
    $f = BxPush\flush(3000);
    $new = BxPush\status()['forwarder_stats'];
    echo json_encode(['old submitted' => $old['submitted'], 'new submitted' => $new['submitted'],
        'new replayed' => $new['replayed'], 'new acked' => $new['acked'], 'complete' => $f['complete']]), "\n";
    exit(0);
}
pcntl_waitpid($pid, $status);
var_dump(pcntl_wexitstatus($status));
foreach (bx_fetch($srv, bx_user_channels(1)) as $g) echo $g['text'], "\n";
BxPush\Server::stop();
bx_rmdir($tmp);
?>
--EXPECT--
{"old submitted":1,"new submitted":1,"new replayed":1,"new acked":1,"complete":true}
int(0)
first, sent while pointed at no owner
second, after the switch
