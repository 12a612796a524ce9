--TEST--
encode_pull_batches(): with bcmath loaded a negative expiry is written as the 10-byte varint, as the pull module does then
--EXTENSIONS--
bcmath
--SKIPIF--
<?php if (!extension_loaded('bcmath')) die('skip needs the bcmath extension (apt-get install php8.2-bcmath)'); ?>
--FILE--
<?php
require __DIR__ . '/include/pull-vectors.php';
$c = pv_cases()['i2+bcmath'];
$got = pv_encode($c);
var_dump($got === $c['batches_hex']);
var_dump(str_contains($got[0], '20ffffffffffffffffff01'));
// without gmp/bcmath the same queue is refused (080): the encoders agree, only the gate differs
echo pv_encode(pv_cases()['a']) === pv_cases()['a']['batches_hex'] ? "a: identical\n" : "a: DIFFERENT\n";
?>
--EXPECT--
bool(true)
bool(true)
a: identical
