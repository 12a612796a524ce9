<?php
// The pull transport vectors (tests/vectors/pull-transport-vectors.json) as PHP values, and
// a stand-in of Bitrix's DateTime so the serialized cases (m, j) can be rebuilt.

namespace Bitrix\Main\Type {
    if (!class_exists(DateTime::class, false)) {
        /** Stand-in: what the vectors serialized (a PHP \DateTime in `value`). */
        class DateTime
        {
            protected $value;
            protected $userTimeEnabled = true;

            public function getTimestamp(): int
            {
                return $this->value->getTimestamp();
            }
        }
    }
}

namespace {
    /** Every vector of the given kind, keyed by case, with `$messages` rebuilt exactly. */
    function pv_cases(string $kind = 'flush'): array
    {
        $all = json_decode(file_get_contents(dirname(__DIR__, 2) . '/tests/vectors/pull-transport-vectors.json'), true);
        $out = [];
        foreach ($all as $c) {
            if (($c['kind'] ?? '') !== $kind) {
                continue;
            }
            if (isset($c['messages_php_serialized_b64'])) {
                $c['messages'] = unserialize(base64_decode($c['messages_php_serialized_b64']));
            } elseif (!is_array($c['messages'] ?? null) && isset($c['messages_var_export'])) {
                // Invalid UTF-8 (direct-6) has no JSON form, and the recorded var_export() text
                // came through JSON with U+FFFD in place of the bad byte: put one back.
                $c['messages'] = eval('return ' . str_replace("\u{FFFD}", "\xc3", $c['messages_var_export']) . ';');
            }
            $out[$c['case']] = $c;
        }
        return $out;
    }

    /** The case's pull-module limits as encode_pull_batches() takes them. */
    function pv_limits(array $c): array
    {
        $l = [];
        foreach ($c['limits'] ?? [] as $k => $v) {
            $l[substr($k, strlen('limit_'))] = (int)$v;
        }
        return $l;
    }

    /** Hex of every batch, or "Class(code): message" of what was thrown. */
    function pv_encode(array $c)
    {
        try {
            return array_map('bin2hex', BxPush\encode_pull_batches($c['messages'], pv_limits($c)));
        } catch (Throwable $e) {
            return get_class($e) . '(' . $e->getCode() . '): ' . $e->getMessage();
        }
    }
}
