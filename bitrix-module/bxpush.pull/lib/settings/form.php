<?php
// The settings form without the page: which fields it has, reading them from a POST array,
// validating (every error names the fix) and saving. The pull options it edits are the ones
// install pointed at bxpush; install's snapshot of their old values is not touched, so
// uninstall still restores what was there before the module.

namespace Bxpush\Pull\Settings;

use Bitrix\Main\Config\Option;
use Bitrix\Main\Error;
use Bitrix\Main\Loader;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\Result;
use Bxpush\Pull\ConfigSwitch;
use Bxpush\Pull\PullOptions;

Loc::loadMessages(__FILE__);

final class Form
{
    public const MODULE_ID = 'bxpush.pull';

    public const MIN_KEY_LENGTH = 32;
    public const MAX_KEY_LENGTH = 256;
    /** Characters a key may have: safe unquoted in a shell flag and inside a php.ini "…" value. */
    public const KEY_PATTERN = '/^[A-Za-z0-9._\-+\/]+$/';
    public const ALGOS = ['sha1', 'sha256'];

    public const TIMEOUT_MIN = 3;
    public const TIMEOUT_MAX = 120;
    public const TIMEOUT_DEFAULT = 10;

    /**
     * The editable fields: name => [module, kind, example, label message]. `kind` selects the check:
     * `http` (http:// or https://), `https`, `ws` (ws:// or wss://), `wss`, `publish` (http(s),
     * used verbatim by PHP, so no #DOMAIN#), `key`, `algo`, `timeout`. The URL rules and
     * examples are the install step's (InstallForm).
     */
    public const FIELDS = [
        'path_to_modern_listener' => ['pull', 'http', 'http://#DOMAIN#/bitrix/sub/', 'BXPUSH_PULL_FORM_FIELD_PATH_TO_MODERN_LISTENER'],
        'path_to_modern_listener_secure' => ['pull', 'https', 'https://#DOMAIN#/bitrix/sub/', 'BXPUSH_PULL_FORM_FIELD_PATH_TO_MODERN_LISTENER_SECURE'],
        'path_to_websocket' => ['pull', 'ws', 'ws://#DOMAIN#/bitrix/subws/', 'BXPUSH_PULL_FORM_FIELD_PATH_TO_WEBSOCKET'],
        'path_to_websocket_secure' => ['pull', 'wss', 'wss://#DOMAIN#/bitrix/subws/', 'BXPUSH_PULL_FORM_FIELD_PATH_TO_WEBSOCKET_SECURE'],
        'path_to_publish' => ['pull', 'publish', 'http://127.0.0.1:9010/bitrix/pub/', 'BXPUSH_PULL_FORM_FIELD_PATH_TO_PUBLISH'],
        'path_to_publish_web' => ['pull', 'http', 'http://#DOMAIN#/bitrix/rest/', 'BXPUSH_PULL_FORM_FIELD_PATH_TO_PUBLISH_WEB'],
        'path_to_publish_web_secure' => ['pull', 'https', 'https://#DOMAIN#/bitrix/rest/', 'BXPUSH_PULL_FORM_FIELD_PATH_TO_PUBLISH_WEB_SECURE'],
        'signature_key' => ['pull', 'key', '', 'BXPUSH_PULL_FORM_FIELD_SIGNATURE_KEY'],
        'signature_algo' => ['pull', 'algo', 'sha1', 'BXPUSH_PULL_FORM_FIELD_SIGNATURE_ALGO'],
        'test_timeout' => [self::MODULE_ID, 'timeout', '10', 'BXPUSH_PULL_FORM_FIELD_TEST_TIMEOUT'],
    ];

    /** The label of a field in the admin's language. */
    public static function label(string $name): string
    {
        return (string)Loc::getMessage(self::FIELDS[$name][3]);
    }

    /** @return array<string, string> the saved value of every field */
    public static function current(): array
    {
        $out = [];
        foreach (self::FIELDS as $name => [$module]) {
            $out[$name] = (string)Option::get($module, $name, '');
        }
        if ($out['test_timeout'] === '') {
            $out['test_timeout'] = (string)self::TIMEOUT_DEFAULT;
        }
        if ($out['signature_algo'] === '') {
            $out['signature_algo'] = 'sha1';
        }
        return $out;
    }

    /** The test-event timeout in seconds, always within the allowed range. */
    public static function testTimeout(): int
    {
        $v = (int)Option::get(self::MODULE_ID, 'test_timeout', (string)self::TIMEOUT_DEFAULT);
        return $v < self::TIMEOUT_MIN || $v > self::TIMEOUT_MAX ? self::TIMEOUT_DEFAULT : $v;
    }

    /**
     * The known fields of a submitted form, trimmed; a field the form did not send keeps its
     * saved value.
     *
     * @return array<string, string>
     */
    public static function read(array $post): array
    {
        $values = self::current();
        foreach (self::FIELDS as $name => $_) {
            if (array_key_exists($name, $post) && is_scalar($post[$name])) {
                $values[$name] = trim((string)$post[$name]);
            }
        }
        return $values;
    }

    /**
     * Checks every field. `$extension` is what the PHP extension uses (null = read it from
     * this process: `ini_get`); pass `['loaded' => false]` to skip the key comparison.
     *
     * @param array{loaded: bool, key?: string, algo?: string}|null $extension
     */
    public static function validate(array $values, ?array $extension = null): Result
    {
        $result = new Result();
        $extension ??= self::extensionSettings();
        foreach (self::FIELDS as $name => [, $kind, $example]) {
            $value = (string)($values[$name] ?? '');
            $message = match ($kind) {
                'http', 'https', 'ws', 'wss', 'publish' => self::checkUrl($name, $kind, $value, $example),
                'key' => self::checkKey($value),
                'algo' => in_array($value, self::ALGOS, true) ? null
                    : Loc::getMessage('BXPUSH_PULL_FORM_ERR_ALGO', ['#FIELD#' => self::label($name)]),
                'timeout' => self::checkTimeout($value),
            };
            if ($message !== null) {
                $result->addError(new Error((string)$message, $name));
            }
        }
        if ($result->isSuccess() && $extension['loaded']) {
            if (($extension['key'] ?? '') !== $values['signature_key']) {
                $result->addError(new Error((string)Loc::getMessage('BXPUSH_PULL_FORM_ERR_KEY_MISMATCH'), 'signature_key'));
            }
            if (($extension['algo'] ?? 'sha1') !== $values['signature_algo']) {
                $result->addError(new Error((string)Loc::getMessage('BXPUSH_PULL_FORM_ERR_ALGO_MISMATCH', [
                    '#ALGO#' => $values['signature_algo'],
                    '#EXT_ALGO#' => (string)($extension['algo'] ?? 'sha1'),
                ]), 'signature_algo'));
            }
        }
        return $result;
    }

    /**
     * Validates and writes the changed options. When a pull option changed, the clients'
     * cached config is invalidated (`SetConfigTimestamp`) and open pages are told to reload it
     * (`SendConfigDie`). The result's data: `changed` => names written.
     */
    public static function save(array $values, ?array $extension = null): Result
    {
        $result = self::validate($values, $extension);
        if (!$result->isSuccess()) {
            return $result;
        }
        $changed = [];
        foreach (self::FIELDS as $name => [$module]) {
            $new = (string)$values[$name];
            if (Option::getRealValue($module, $name, '') !== $new) {
                Option::set($module, $name, $new);
                $changed[] = $name;
            }
        }
        $pullChanged = array_values(array_filter($changed, fn ($n) => self::FIELDS[$n][0] === 'pull'));
        if ($pullChanged !== [] && class_exists(PullOptions::class)) {
            // what the health agent compares the pull options with: the admin's new values
            $written = PullOptions::written();
            foreach ($pullChanged as $name) {
                $written[$name] = (string)$values[$name];
            }
            PullOptions::saveWritten($written);
        }
        if ($pullChanged !== [] && Loader::includeModule('pull') && class_exists('CPullOptions')) {
            // always newer than what clients cached, even within the second of the last bump
            class_exists(ConfigSwitch::class) ? ConfigSwitch::bumpTimestamp()
                : \CPullOptions::SetConfigTimestamp(max(time(), (int)Option::get('pull', 'config_timestamp', '0') + 1));
            try {
                \CPullOptions::SendConfigDie();
            } catch (\Throwable $e) {
                ErrorLog::add('settings', (string)Loc::getMessage('BXPUSH_PULL_FORM_ERR_CONFIG_DIE', ['#ERROR#' => $e->getMessage()]));
            }
        }
        $result->setData(['changed' => $changed]);
        return $result;
    }

    /** @return array{loaded: bool, key: string, algo: string} */
    public static function extensionSettings(): array
    {
        if (!extension_loaded('bxpush')) {
            return ['loaded' => false, 'key' => '', 'algo' => ''];
        }
        return [
            'loaded' => true,
            'key' => (string)ini_get('bxpush.signature_key'),
            'algo' => (string)ini_get('bxpush.signature_algo'),
        ];
    }

    /** The `bxpush serve` flag that sets this key. */
    public static function serveFlag(string $key): string
    {
        return '--signature-key ' . $key;
    }

    /** The php.ini line that sets this key for the extension. */
    public static function iniLine(string $key): string
    {
        return 'bxpush.signature_key = "' . $key . '"';
    }

    /** `abcd…wxyz` style: enough to compare two keys by eye, not enough to use one. */
    public static function mask(string $key): string
    {
        $n = strlen($key);
        if ($n === 0) {
            return '';
        }
        if ($n < 12) {
            return str_repeat('•', $n);
        }
        return substr($key, 0, 4) . str_repeat('•', $n - 8) . substr($key, -4);
    }

    private static function checkUrl(string $name, string $kind, string $value, string $example): ?string
    {
        $replace = ['#FIELD#' => self::label($name), '#EXAMPLE#' => $example];
        if ($value === '') {
            return Loc::getMessage('BXPUSH_PULL_FORM_ERR_URL_EMPTY', $replace);
        }
        $schemes = match ($kind) {
            'ws' => ['ws', 'wss'],
            'wss' => ['wss'],
            'https' => ['https'],
            default => ['http', 'https'],
        };
        $scheme = strtolower((string)parse_url(str_replace(['#DOMAIN#', '#PORT#'], ['example.com', ''], $value), PHP_URL_SCHEME));
        if (!in_array($scheme, $schemes, true)) {
            return Loc::getMessage('BXPUSH_PULL_FORM_ERR_URL_SCHEME', $replace + ['#SCHEMES#' => implode('://, ', $schemes) . '://']);
        }
        if ($kind === 'publish' && str_contains($value, '#DOMAIN#')) {
            return Loc::getMessage('BXPUSH_PULL_FORM_ERR_PUBLISH_DOMAIN', $replace);
        }
        $parts = parse_url(str_replace(['#DOMAIN#', '#PORT#'], ['example.com', ''], $value));
        if (!is_array($parts) || ($parts['host'] ?? '') === '' || preg_match('/\s/', $value)) {
            return Loc::getMessage('BXPUSH_PULL_FORM_ERR_URL_BAD', $replace);
        }
        return null;
    }

    private static function checkKey(string $key): ?string
    {
        $n = strlen($key);
        if ($n === 0) {
            return Loc::getMessage('BXPUSH_PULL_FORM_ERR_KEY_EMPTY');
        }
        if ($n < self::MIN_KEY_LENGTH || $n > self::MAX_KEY_LENGTH) {
            return Loc::getMessage('BXPUSH_PULL_FORM_ERR_KEY_LENGTH', [
                '#MIN#' => self::MIN_KEY_LENGTH,
                '#MAX#' => self::MAX_KEY_LENGTH,
                '#LENGTH#' => $n,
            ]);
        }
        if (!preg_match(self::KEY_PATTERN, $key)) {
            return Loc::getMessage('BXPUSH_PULL_FORM_ERR_KEY_CHARS');
        }
        return null;
    }

    private static function checkTimeout(string $value): ?string
    {
        if (!preg_match('/^\d+$/', $value) || (int)$value < self::TIMEOUT_MIN || (int)$value > self::TIMEOUT_MAX) {
            return Loc::getMessage('BXPUSH_PULL_FORM_ERR_TIMEOUT', [
                '#MIN#' => self::TIMEOUT_MIN,
                '#MAX#' => self::TIMEOUT_MAX,
                '#DEFAULT#' => self::TIMEOUT_DEFAULT,
            ]);
        }
        return null;
    }
}
