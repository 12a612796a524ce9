<?php
// What the health agent checks: the runtime answers (through the extension, or in HTTP-only
// mode over HTTP at the publish URL's /server-stat/), the pull options are still the ones
// install wrote, the extension's key is still the pull module's, the shim can run.
// problems() returns tag => message (each names the fix); no problem, no entry.

namespace Bxpush\Pull;

use Bitrix\Main\Config\Option;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\Web\HttpClient;

Loc::loadMessages(__FILE__);

final class Health
{
    public static function problems(): array
    {
        $p = [];
        $mode = (string)Option::get(PullOptions::MODULE_ID, 'mode', '');
        $publish = (string)Option::get('pull', 'path_to_publish', '');

        $runtime = Extension::loaded() ? self::runtimeThroughExtension() : self::runtimeOverHttp($publish);
        if ($runtime !== null) {
            $p[Notices::RUNTIME] = $runtime;
        }
        if ($mode === 'extension' && !Extension::loaded()) {
            $p[Notices::EXTENSION] = Loc::getMessage('BXPUSH_PULL_HEALTH_EXTENSION_GONE');
        }
        if ($mode === 'http' && !Extension::loaded()) {
            $p[Notices::HTTP_ONLY] = self::httpOnlyNotice();
        }
        $drift = PullOptions::drift();
        if ($drift) {
            $p[Notices::OPTIONS] = Loc::getMessage('BXPUSH_PULL_HEALTH_OPTIONS', ['#NAMES#' => implode(', ', $drift)]);
        }
        $overrides = PullOptions::siteOverrides(array_keys(PullOptions::written()));
        if ($overrides) {
            $p[Notices::SITE_OPTIONS] = Loc::getMessage('BXPUSH_PULL_HEALTH_SITE_OPTIONS', ['#LIST#' => implode(', ', $overrides)]);
        }
        if (Extension::loaded() && !in_array('signature_key', $drift, true)
            && !hash_equals((string)Option::get('pull', 'signature_key', ''), Extension::signatureKey())) {
            $p[Notices::KEY] = Loc::getMessage('BXPUSH_PULL_HEALTH_KEY');
        }
        if (Extension::hasShimFunctions()) {
            $api = TransportCheck::pullApi();
            if (!$api['ok']) {
                $p[Notices::TRANSPORT] = Loc::getMessage('BXPUSH_PULL_HEALTH_TRANSPORT', ['#VERSION#' => $api['version'] ?: '?', '#WHAT#' => $api['reason']]);
            }
        }
        return $p;
    }

    /** The standing notice of HTTP-only mode: what loading the extension adds. */
    public static function httpOnlyNotice(): string
    {
        return (string)Loc::getMessage('BXPUSH_PULL_HEALTH_HTTP_ONLY');
    }

    private static function runtimeThroughExtension(): ?string
    {
        try {
            Extension::serverStats();
            return null;
        } catch (\Throwable $e) {
            return Loc::getMessage('BXPUSH_PULL_HEALTH_RUNTIME_EXT', [
                '#SERVER#' => Extension::server(),
                '#SPOOL#' => Extension::spoolDir(),
                '#ERROR#' => $e->getMessage(),
            ]);
        }
    }

    /** HTTP-only mode: GET /server-stat/ next to the publish path (bxpush serve's --listen-pub). */
    private static function runtimeOverHttp(string $publish): ?string
    {
        $u = parse_url($publish);
        if (!$u || empty($u['host'])) {
            return Loc::getMessage('BXPUSH_PULL_HEALTH_RUNTIME_HTTP', ['#URL#' => $publish, '#ERROR#' => 'bad URL']);
        }
        $url = ($u['scheme'] ?? 'http') . '://' . $u['host'] . (isset($u['port']) ? ':' . $u['port'] : '') . '/server-stat/';
        $http = new HttpClient(['socketTimeout' => 2, 'streamTimeout' => 2]);
        $body = $http->get($url);
        if ($body === false || $http->getStatus() !== 200 || !is_array(json_decode($body, true))) {
            $err = $body === false ? implode('; ', $http->getError()) : 'HTTP ' . $http->getStatus();
            return Loc::getMessage('BXPUSH_PULL_HEALTH_RUNTIME_HTTP', ['#URL#' => $url, '#ERROR#' => $err]);
        }
        return null;
    }
}
