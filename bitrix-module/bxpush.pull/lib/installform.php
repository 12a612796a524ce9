<?php
// The install step's form: its fields with defaults matching `bxpush serve` behind nginx,
// reading a request, and the checks (each error names the field and the fix).

namespace Bxpush\Pull;

use Bitrix\Main\Error;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\Result;

Loc::loadMessages(__FILE__);

final class InstallForm
{
    /** The URL options of pull the form edits, in display order. */
    public const PATH_FIELDS = [
        'path_to_modern_listener',
        'path_to_modern_listener_secure',
        'path_to_websocket',
        'path_to_websocket_secure',
        'path_to_publish',
        'path_to_publish_web',
        'path_to_publish_web_secure',
    ];

    /**
     * bxpush serve's defaults: subscribers on 127.0.0.1:8010 behind the site's nginx at
     * /bitrix/sub/, /bitrix/subws/, /bitrix/rest/; trusted publishing on 127.0.0.1:9010.
     */
    public const DEFAULTS = [
        'path_to_modern_listener' => 'http://#DOMAIN#/bitrix/sub/',
        'path_to_modern_listener_secure' => 'https://#DOMAIN#/bitrix/sub/',
        'path_to_websocket' => 'ws://#DOMAIN#/bitrix/subws/',
        'path_to_websocket_secure' => 'wss://#DOMAIN#/bitrix/subws/',
        'path_to_publish' => 'http://127.0.0.1:9010/bitrix/pub/',
        'path_to_publish_web' => 'http://#DOMAIN#/bitrix/rest/',
        'path_to_publish_web_secure' => 'https://#DOMAIN#/bitrix/rest/',
    ];

    /** Allowed URL schemes of each field. */
    private const SCHEMES = [
        'path_to_modern_listener' => ['http', 'https'],
        'path_to_modern_listener_secure' => ['https'],
        'path_to_websocket' => ['ws', 'wss'],
        'path_to_websocket_secure' => ['wss'],
        'path_to_publish' => ['http', 'https'],
        'path_to_publish_web' => ['http', 'https'],
        'path_to_publish_web_secure' => ['https'],
    ];

    /** The form's values from a request array; a missing or empty field takes its default. */
    public static function read(array $request): array
    {
        $v = [];
        foreach (self::DEFAULTS as $name => $default) {
            $x = $request[$name] ?? '';
            $v[$name] = is_string($x) && trim($x) !== '' ? trim($x) : $default;
        }
        $key = $request['signature_key'] ?? '';
        $v['signature_key'] = is_string($key) ? trim($key) : '';
        $algo = $request['signature_algo'] ?? '';
        $v['signature_algo'] = is_string($algo) && $algo !== '' ? $algo : Extension::signatureAlgo();
        return $v;
    }

    public static function validate(array $v): Result
    {
        $r = new Result();
        foreach (self::PATH_FIELDS as $name) {
            $url = (string)$v[$name];
            $p = parse_url(str_replace('#DOMAIN#', 'example.com', $url));
            $schemes = self::SCHEMES[$name];
            if (!$p || empty($p['host']) || !in_array(strtolower($p['scheme'] ?? ''), $schemes, true)) {
                $r->addError(new Error(Loc::getMessage('BXPUSH_PULL_INSTALLFORM_BAD_URL', [
                    '#FIELD#' => $name, '#SCHEMES#' => implode('/', $schemes), '#EXAMPLE#' => self::DEFAULTS[$name],
                ]), $name));
            }
        }
        if (str_contains((string)$v['path_to_publish'], '#DOMAIN#')) {
            $r->addError(new Error(Loc::getMessage('BXPUSH_PULL_INSTALLFORM_PUBLISH_DOMAIN', ['#EXAMPLE#' => self::DEFAULTS['path_to_publish']]), 'path_to_publish'));
        }
        if (!in_array($v['signature_algo'], ['sha1', 'sha256'], true)) {
            $r->addError(new Error(Loc::getMessage('BXPUSH_PULL_INSTALLFORM_BAD_ALGO'), 'signature_algo'));
        }
        return $r;
    }
}
