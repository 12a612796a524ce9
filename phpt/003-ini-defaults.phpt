--TEST--
Settings and their defaults
--FILE--
<?php
foreach (ini_get_all('bxpush') as $k => $v) {
    printf("%s = %s (%s)\n", $k, var_export($v['global_value'], true), $v['access'] === INI_ALL ? 'INI_ALL' : ($v['access'] === INI_SYSTEM ? 'INI_SYSTEM' : $v['access']));
}
?>
--EXPECT--
bxpush.bitrix_compat = '1' (INI_ALL)
bxpush.channel_ttl = '43205' (INI_ALL)
bxpush.connect_timeout_ms = '100' (INI_ALL)
bxpush.flush_timeout_ms = '200' (INI_ALL)
bxpush.public_url = '' (INI_ALL)
bxpush.queue_bytes = '16777216' (INI_SYSTEM)
bxpush.queue_items = '10000' (INI_SYSTEM)
bxpush.server = '/run/bxpush/php.sock' (INI_ALL)
bxpush.server_name = '' (INI_ALL)
bxpush.signature_algo = 'sha1' (INI_ALL)
bxpush.signature_key = '' (INI_ALL)
bxpush.spool_dir = '/var/spool/bxpush' (INI_ALL)
