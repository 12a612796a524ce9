--TEST--
php-stubs/bxpush.stubs.php describes exactly what the loaded extension exposes
--FILE--
<?php
$file = dirname(__DIR__) . '/php-stubs/bxpush.stubs.php';
$src = file_get_contents($file);
// Load the stubs under another root namespace and compare them with Reflection.
$code = preg_replace(['/^<\?php/', '/(namespace |\\\\)BxPush\\b/'], ['', '$1BxPushStub\\BxPush'], $src);
eval($code);
$norm = fn(?string $t) => $t === null ? '' : str_ireplace('BxPushStub\\', '', ltrim($t, '\\'));
function sig(ReflectionFunctionAbstract $f, callable $norm): string {
    $ps = [];
    foreach ($f->getParameters() as $p) {
        $s = $norm((string)$p->getType()) . ' $' . $p->getName();
        if ($p->isOptional()) $s .= ' = ' . ($p->isDefaultValueAvailable() ? var_export($p->getDefaultValue(), true) : '?');
        $ps[] = $s;
    }
    $static = $f instanceof ReflectionMethod && $f->isStatic() ? 'static ' : '';
    return $static . $norm($f->getName()) . '(' . implode(', ', $ps) . '): ' . $norm((string)$f->getReturnType());
}
$ext = new ReflectionExtension('bxpush');
$real = []; $stub = [];
foreach ($ext->getFunctions() as $f) $real[] = 'function ' . sig($f, $norm);
foreach (get_defined_functions()['user'] as $fn) {
    if (str_starts_with($fn, 'bxpushstub\\')) $stub[] = 'function ' . sig(new ReflectionFunction($fn), $norm);
}
$describe = function (ReflectionClass $c) use ($norm): array {
    $out = ['class ' . $norm($c->getName()) . ($c->getParentClass() ? ' extends ' . $norm($c->getParentClass()->getName()) : '')];
    foreach ($c->getMethods() as $m) {
        if ($norm($m->getDeclaringClass()->getName()) !== $norm($c->getName())) continue;
        $out[] = '  ' . $norm($c->getName()) . '::' . sig($m, $norm);
    }
    foreach ($c->getReflectionConstants() as $k) $out[] = '  const ' . $k->getName();
    return $out;
};
foreach ($ext->getClasses() as $c) $real = array_merge($real, $describe($c));
foreach (get_declared_classes() as $c) {
    if (str_starts_with($c, 'BxPushStub\\')) $stub = array_merge($stub, $describe(new ReflectionClass($c)));
}
$real = array_map('strtolower', $real); $stub = array_map('strtolower', $stub);
sort($real); sort($stub);
// settings: the @ini lines of the header against the registered entries and defaults
preg_match_all('/@ini (bxpush\.\w+) "([^"]*)"/', $src, $m, PREG_SET_ORDER);
foreach ($m as [, $name, $default]) $stub[] = "ini $name = $default";
foreach (ini_get_all('bxpush') as $name => $v) $real[] = "ini $name = {$v['global_value']}";
// constants
foreach ($ext->getConstants() as $k => $v) $real[] = "const $k";
$missing = array_diff($real, $stub);
$stale = array_diff($stub, $real);
echo "in the extension, not in the stubs:\n", implode("\n", $missing), "\n";
echo "in the stubs, not in the extension:\n", implode("\n", $stale), "\n";
echo count($real), ' items', "\n";
?>
--EXPECTF--
in the extension, not in the stubs:

in the stubs, not in the extension:

%d items
