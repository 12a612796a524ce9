--TEST--
bxpush.server lists several owners: a bad list is refused naming the entry and the fix; an owner that is not there is passed over for the next one of the list
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$tmp = bx_tmpdir('owners');
$owner = bx_owner_start("$tmp/php.sock");
ini_set('bxpush.spool_dir', "$tmp/spool");
foreach (["$tmp/a.sock,,$tmp/php.sock", "$tmp/a.sock,localhost:9011", "$tmp/php.sock,unix:$tmp/php.sock"] as $list) {
    ini_set('bxpush.server', $list);
    try {
        BxPush\publish(bx_user_private(1), ['module_id' => 'im', 'command' => 'refused']);
        echo "sent?\n";
    } catch (BxPush\Exception $e) {
        echo str_replace($tmp, 'TMP', $e->getMessage()), "\n";
    }
}
ini_set('bxpush.server', "$tmp/nowhere.sock,$tmp/php.sock");
var_dump(BxPush\publish(bx_user_private(1), ['module_id' => 'im', 'command' => 'sent']));
var_dump(BxPush\flush(3000)['complete']);
$st = BxPush\status()['forwarder_stats'];
var_dump(str_replace($tmp, 'TMP', $st['owner']), $st['failovers']);
echo implode(',', array_map(fn($g) => $g['message']['command'], bx_fetch($owner, bx_user_channels(1)))), "\n";
[$code, $out] = bx_owner_stop($owner);
var_dump($code);
bx_rmdir($tmp);
?>
--EXPECT--
BxPush\publish(): bxpush.server: entry 2 of the owner list "TMP/a.sock,,TMP/php.sock" is empty: separate owners by exactly one comma, without a trailing one
BxPush\publish(): bxpush.server: entry 2 of the owner list: "localhost:9011" is not a PHP hand-off address; accepted forms: a unix socket path ("/run/bxpush/php.sock" or "unix:/run/bxpush/php.sock") or an IP address and port ("127.0.0.1:9011", "[::1]:9011")
BxPush\publish(): bxpush.server: entries 1 and 2 of the owner list name the same owner unix:TMP/php.sock: list each owner once
int(1)
bool(true)
string(17) "unix:TMP/php.sock"
int(0)
sent
int(0)
