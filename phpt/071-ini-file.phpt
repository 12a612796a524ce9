--TEST--
ext/bxpush.ini (what `make install` writes) lists every setting at its default
--FILE--
<?php
$ini = file_get_contents(dirname(__DIR__) . '/ext/bxpush.ini');
var_dump(preg_match('/^extension=bxpush$/m', $ini));
preg_match_all('/^;(bxpush\.\w+) = ?(.*)$/m', $ini, $m, PREG_SET_ORDER);
$file = [];
foreach ($m as [, $k, $v]) $file[$k] = trim($v);
$real = array_map(fn($e) => $e['global_value'], ini_get_all('bxpush'));
ksort($file); ksort($real);
var_dump($file === $real);
if ($file !== $real) { var_dump(array_diff_assoc($real, $file), array_diff_assoc($file, $real)); }
?>
--EXPECT--
int(1)
bool(true)
