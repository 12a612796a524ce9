--TEST--
publish(): the JSON encoder called directly gives json_encode()'s bytes, errors and json_last_error() state
--INI--
serialize_precision=-1
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
$srv = bx_start();
$ch = bx_user_private(8);

class Point implements JsonSerializable {
    public function __construct(private int $x) {}
    public function jsonSerialize(): mixed { return ['x' => $this->x, 'at' => 1.0]; }
}
class Boom implements JsonSerializable {
    public function jsonSerialize(): mixed { throw new LogicException('boom'); }
}
class Plain { public $a = 1; protected $hidden = 2; public $list = []; }

// Every shape the encoder treats specially: floats (shortest round-trip, integral, exponent,
// negative zero), big ints, escapes, unicode kept, lists vs maps, empty containers, objects.
$cases = [
    ['module_id' => 'm', 'command' => 'c', 'params' => ['f' => [0.1, 1.0, 1e22, 1.5e-9, -0.0, 123456789.125, PHP_INT_MAX, PHP_INT_MIN]]],
    ['text' => "tab\t nl\n quote\" slash/ back\\ nul\x00 ctl\x1f é 😀 \u{2028}"],
    ['list' => [1, 2, 3], 'holes' => [0 => 'a', 2 => 'b'], 'empty' => [], 'obj' => new stdClass(), 'nested' => [[[]]]],
    ['point' => new Point(3), 'plain' => new Plain(), 'bools' => [true, false, null]],
    [1 => 'int key only'],
];
foreach ($cases as $i => $m) {
    BxPush\publish($ch, $m);
    $got = bx_fetch($srv, bx_user_channels(8));
    $want = json_encode($m, JSON_UNESCAPED_UNICODE);
    echo $i, ': ', end($got)['text'] === $want ? 'same bytes' : 'DIFFERENT: ' . end($got)['text'] . ' vs ' . $want, "\n";
}

function t(string $what, $m) {
    global $ch;
    try { BxPush\publish($ch, $m); echo "$what: sent\n"; }
    catch (BxPush\Exception $e) {
        echo "$what: ", $e->getMessage(), ' | json_last_error()=', json_last_error(),
            $e->getPrevious() ? ' | previous: ' . get_class($e->getPrevious()) : '', "\n";
    }
}
t('inf', ['x' => INF]);
t('nan', ['x' => NAN]);
$r = ['a' => 1]; $r['self'] = &$r;
t('recursion', $r);
$deep = []; for ($i = 0; $i < 600; $i++) { $deep = [$deep]; }
t('depth', $deep);
t('resource', ['f' => STDIN]);
try { BxPush\publish($ch, ['b' => new Boom()]); echo "boom: sent\n"; }
catch (Throwable $e) {
    // The user's exception is not swallowed: it is the one thrown or the previous one.
    $chain = []; for ($x = $e; $x; $x = $x->getPrevious()) { $chain[] = get_class($x) . '(' . $x->getMessage() . ')'; }
    echo 'boom: ', implode(' <- ', $chain), "\n";
}
// A successful publish leaves json_last_error() at 0, as json_encode() does.
json_encode(['x' => INF]);
BxPush\publish($ch, ['ok' => 1]);
echo 'after success: ', json_last_error(), "\n";
BxPush\Server::stop();
?>
--EXPECT--
0: same bytes
1: same bytes
2: same bytes
3: same bytes
4: same bytes
inf: BxPush\publish(): the message cannot be encoded as JSON: Inf and NaN cannot be JSON encoded | json_last_error()=7
nan: BxPush\publish(): the message cannot be encoded as JSON: Inf and NaN cannot be JSON encoded | json_last_error()=7
recursion: BxPush\publish(): the message cannot be encoded as JSON: Recursion detected | json_last_error()=6
depth: BxPush\publish(): the message cannot be encoded as JSON: Maximum stack depth exceeded | json_last_error()=1
resource: BxPush\publish(): the message cannot be encoded as JSON: Type is not supported | json_last_error()=8
boom: LogicException(boom)
after success: 0
