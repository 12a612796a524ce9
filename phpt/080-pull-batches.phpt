--TEST--
encode_pull_batches(): every recorded flush gives the pull module's own POST bodies, byte for byte (no gmp, no bcmath)
--SKIPIF--
<?php if (extension_loaded('gmp') || extension_loaded('bcmath')) die('skip needs PHP without gmp and bcmath'); ?>
--FILE--
<?php
require __DIR__ . '/include/pull-vectors.php';
foreach (pv_cases() as $name => $c) {
    $got = pv_encode($c);
    echo "$name: ", is_string($got) ? $got : ($got === $c['batches_hex'] ? 'identical' : 'DIFFERENT') . ' (' . count($got) . ' batches)', "\n";
}
$d = pv_cases('sendMessages-direct');
foreach (['direct-1', 'direct-4', 'direct-5', 'direct-7'] as $n) {
    echo "$n: ", pv_encode($d[$n]) === $d[$n]['batches_hex'] ? 'identical' : 'DIFFERENT', "\n";
}
echo 'direct-6: ', pv_encode($d['direct-6']), "\n";
?>
--EXPECT--
a: identical (1 batches)
b: identical (1 batches)
c: identical (1 batches)
d: identical (1 batches)
e1: identical (1 batches)
e2: identical (1 batches)
f1: identical (1 batches)
f2: identical (2 batches)
f3: identical (3 batches)
f4: identical (5 batches)
g: identical (1 batches)
h: identical (1 batches)
i1: identical (1 batches)
i2: BxPush\Exception(2): Negative integers are only supported with GMP or BC (64bit) intextensions.
i2+gmp: BxPush\Exception(2): Negative integers are only supported with GMP or BC (64bit) intextensions.
i2+bcmath: BxPush\Exception(2): Negative integers are only supported with GMP or BC (64bit) intextensions.
k: identical (1 batches)
l: identical (1 batches)
m: identical (1 batches)
j: BxPush\Exception(1): JSON error: Inf and NaN cannot be JSON encoded [7]
direct-1: identical
direct-4: identical
direct-5: identical
direct-7: identical
direct-6: BxPush\Exception(1): JSON error: Malformed UTF-8 characters, possibly incorrectly encoded [5]
