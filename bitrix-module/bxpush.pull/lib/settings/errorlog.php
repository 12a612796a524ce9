<?php
// The module's recent failures, kept in one bounded option (`bxpush.pull:recent_errors`, JSON):
// what the settings page lists under "Recent errors". Any part of the module may add to it;
// the newest entry comes first and only the last MAX_ENTRIES are kept.

namespace Bxpush\Pull\Settings;

use Bitrix\Main\Config\Option;

final class ErrorLog
{
    public const MODULE_ID = 'bxpush.pull';
    public const OPTION = 'recent_errors';
    public const MAX_ENTRIES = 20;
    public const MAX_MESSAGE = 500;

    /**
     * Record a failure. `$source` says which part failed (`test`, `status`, `transport`,
     * `agent`, …); `$message` is shown as is, so it must already be in the admin's language.
     * The signature keys this process knows are cut out of the message.
     */
    public static function add(string $source, string $message): void
    {
        $message = self::redact($message);
        // at most MAX_MESSAGE characters, cut on a UTF-8 boundary (no mbstring needed)
        if (preg_match('/^.{' . self::MAX_MESSAGE . '}./su', $message)) {
            $message = preg_replace('/^(.{' . (self::MAX_MESSAGE - 1) . '}).*$/su', '$1', $message) . '…';
        }
        $entries = self::all();
        array_unshift($entries, ['time' => time(), 'source' => $source, 'message' => $message]);
        $entries = array_slice($entries, 0, self::MAX_ENTRIES);
        Option::set(self::MODULE_ID, self::OPTION, json_encode($entries, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES));
    }

    /** @return list<array{time: int, source: string, message: string}> newest first */
    public static function all(): array
    {
        $raw = Option::get(self::MODULE_ID, self::OPTION, '[]');
        $list = json_decode((string)$raw, true);
        if (!is_array($list)) {
            return [];
        }
        $out = [];
        foreach ($list as $e) {
            if (is_array($e) && isset($e['time'], $e['message'])) {
                $out[] = [
                    'time' => (int)$e['time'],
                    'source' => (string)($e['source'] ?? ''),
                    'message' => (string)$e['message'],
                ];
            }
        }
        return array_slice($out, 0, self::MAX_ENTRIES);
    }

    public static function clear(): void
    {
        Option::delete(self::MODULE_ID, ['name' => self::OPTION]);
    }

    /** Replaces every signature key this process knows by `***`. */
    public static function redact(string $text): string
    {
        $keys = [];
        $ini = ini_get('bxpush.signature_key');
        if (is_string($ini) && $ini !== '') {
            $keys[] = $ini;
        }
        $pull = Option::get('pull', 'signature_key', '');
        if ($pull !== '') {
            $keys[] = $pull;
        }
        foreach ($keys as $k) {
            if (strlen($k) >= 4) {
                $text = str_replace($k, '***', $text);
            }
        }
        return $text;
    }
}
