--TEST--
Event::setChannelResolver: a PHP callable replaces the derived channels
--INI--
bxpush.signature_key=test-signature-key
--FILE--
<?php
require __DIR__ . '/include/helpers.php';
use BxPush\Compat\Event;
$srv = bx_start();
$seen = [];
Event::setChannelResolver(function (int $userId, string $type) use (&$seen) {
    $seen[] = "$userId/$type";
    return match ($userId) {
        1 => bx_user_private(101),              // another user's channel
        2 => [bx_user_private(102), bx_user_private(103)],
        3 => null,                              // skipped (inactive user)
        4 => 'garbage',
        5 => 42,
        6 => throw new RuntimeException('resolver says no'),
    };
});
$m = ['module_id' => 'im', 'command' => 'r'];
var_dump(Event::add([1, 2, 3], $m));
var_dump(Event::add(4, $m), Event::getLastError());
var_dump(Event::add(5, $m), Event::getLastError());
try { Event::add(6, $m); } catch (RuntimeException $e) { echo 'propagated: ', $e->getMessage(), "\n"; }
var_dump(Event::add(3, $m, 'shared'));
echo implode(' ', $seen), "\n";
Event::send();
foreach ([101, 102, 103, 1, 2] as $u) echo "$u: ", count(bx_fetch($srv, bx_user_channels($u))), "\n";
Event::setChannelResolver(null);
var_dump(Event::add(1, $m), Event::send(), count(bx_fetch($srv, bx_user_channels(1))));
try { Event::setChannelResolver('no_such_function'); } catch (BxPush\Exception $e) { echo $e->getMessage(), "\n"; }
BxPush\Server::stop();
?>
--EXPECTF--
bool(true)
bool(false)
string(%d) "the channel resolver returned a bad value for user 4: malformed channel id "garbage": %s"
bool(false)
string(%d) "the channel resolver must return a channel id, an array of them or null, got 42 for user 5"
propagated: resolver says no
bool(true)
1/private 2/private 3/private 4/private 5/private 6/private 3/shared
101: 1
102: 1
103: 1
1: 0
2: 0
bool(true)
bool(true)
int(1)
Event::setChannelResolver(): argument must be callable or null, got "no_such_function"
