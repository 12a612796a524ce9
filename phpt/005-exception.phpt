--TEST--
BxPush\Exception extends \Exception and carries the reason
--FILE--
<?php
$r = new ReflectionClass('BxPush\Exception');
var_dump($r->getParentClass()->getName());
try {
    BxPush\sign_channel('f6fcf2d5d6c2764e292968f0d64b7530');
} catch (\Exception $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
$e = new BxPush\Exception('custom', 7, new RuntimeException('inner'));
var_dump($e->getMessage(), $e->getCode(), $e->getPrevious()->getMessage(), $e->getLine());
class MyError extends BxPush\Exception {
    public function __construct(string $m) { parent::__construct("mine: $m", 3); }
}
try { throw new MyError('x'); } catch (BxPush\Exception $e) { echo get_class($e), ' ', $e->getMessage(), ' ', $e->getCode(), "\n"; }
?>
--EXPECT--
string(9) "Exception"
BxPush\Exception: BxPush\sign_channel(): bxpush.signature_key is empty: set it to the server's signature key
string(6) "custom"
int(7)
string(5) "inner"
int(9)
MyError mine: x 3
