--TEST--
Fork safety: a pcntl_fork child forgets the parent's runtime and forwards to it over the PHP socket
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$tmp = bx_tmpdir('fork');
$srv = bx_start(['listen_php' => "$tmp/php.sock"]);
ini_set('bxpush.server', "$tmp/php.sock");
ini_set('bxpush.spool_dir', "$tmp/spool");
$pid = pcntl_fork();
if ($pid === 0) {
    $running = BxPush\Server::isRunning();
    BxPush\publish(bx_user_private(1), 'from child, running=' . var_export($running, true));
    $f = BxPush\flush(2000);
    exit($f['complete'] ? 0 : 3);
}
pcntl_waitpid($pid, $status);
var_dump(pcntl_wexitstatus($status));
BxPush\publish(bx_user_private(1), 'from parent');
foreach (bx_fetch($srv, bx_user_channels(1)) as $g) echo $g['text'], "\n";
var_dump(BxPush\Server::isRunning());
BxPush\Server::stop();
bx_rmdir($tmp);
?>
--EXPECT--
int(0)
from child, running=false
from parent
bool(true)
