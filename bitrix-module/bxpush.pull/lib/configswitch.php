<?php
// Making open pages follow a server switch (notes §6.3): bump config_timestamp so every page
// loaded later drops its cached config, and publish config_expire to the shared channel of
// the old and of the new server, so pages connected now reload theirs at once. The publish
// is the text-mode POST every Bitrix push server accepts (Node 2.x, nginx, bxpush); a server
// that is down cannot be reached (its pages follow on reload) — reported, never fatal.

namespace Bxpush\Pull;

use Bitrix\Main\Config\Option;
use Bitrix\Main\Web\HttpClient;

final class ConfigSwitch
{
    /** Seconds a stored config_expire stays for pages that reconnect with a resume id. */
    private const EXPIRY = 3600;

    /** $floor: a timestamp clients may have cached that the new one must exceed (uninstall: bxpush's). */
    public static function bumpTimestamp(int $floor = 0): string
    {
        $old = max((int)Option::get('pull', 'config_timestamp', '0'), $floor);
        $ts = max(time(), $old + 1);   // always newer than what clients cached
        \CPullOptions::SetConfigTimestamp($ts);
        return (string)$ts;
    }

    /** The shared channel id while the pull module is on, else null. */
    public static function sharedChannel(): ?string
    {
        $shared = \CPullOptions::GetQueueServerStatus() ? \CPullChannel::GetShared() : false;
        return is_array($shared) ? $shared['CHANNEL_ID'] : null;
    }

    /** POSTs config_expire to $publishUrl for $channelId; returns null or the failure text. */
    public static function notify(string $publishUrl, string $channelId): ?string
    {
        $body = json_encode([
            'module_id' => 'pull',
            'command' => 'config_expire',
            'params' => [],
            'extra' => [
                'server_time' => date('c'),
                'server_time_unix' => microtime(true),
                'server_name' => (string)Option::get('main', 'server_name', ''),
                'revision_web' => 19,
                'revision_mobile' => 3,
            ],
        ], JSON_UNESCAPED_UNICODE);
        $http = new HttpClient(['socketTimeout' => 2, 'streamTimeout' => 2]);
        $http->setHeader('Message-Expiry', (string)self::EXPIRY);
        $url = $publishUrl . (str_contains($publishUrl, '?') ? '&' : '?') . 'CHANNEL_ID=' . $channelId;
        if ($http->post($url, $body) === false) {
            return implode('; ', $http->getError());
        }
        $status = $http->getStatus();
        return $status >= 200 && $status < 300 ? null : "HTTP $status";
    }
}
