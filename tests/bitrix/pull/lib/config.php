<?php

namespace Bitrix\Pull;

use Bitrix\Main\Config\Option;

/** Transport selection and the client config (bitrix-pull-protocol.md §8). */
class Config
{
    public static function getSignatureKey(): string
    {
        return (string)\CPullOptions::GetSignatureKey();
    }

    public static function getPublishUrl($channelId = ''): string
    {
        return \CPullOptions::GetPublishUrl($channelId);
    }

    public static function getJsonRpcUrl(): string
    {
        return \CPullOptions::GetJsonRpcUrl();
    }

    /** BX24_HOST_NAME, else SITE_SERVER_NAME, else main option server_name. */
    public static function getHostname(): string
    {
        if (defined('BX24_HOST_NAME')) {
            return BX24_HOST_NAME;
        }
        if (defined('SITE_SERVER_NAME') && SITE_SERVER_NAME !== '') {
            return SITE_SERVER_NAME;
        }
        return (string)Option::get('main', 'server_name', '');
    }

    public static function isJsonRpcUsed(): bool
    {
        return \CPullOptions::GetQueueServerVersion() >= 5;
    }

    public static function isProtobufUsed(): bool
    {
        if (\CPullOptions::IsServerShared()) {
            return true;
        }
        return \CPullOptions::GetQueueServerVersion() === 4
            && (PHP_INT_SIZE >= 8 || extension_loaded('bcmath'))
            && \CPullOptions::IsProtobufEnabled();
    }

    /**
     * The config the JS client gets (REST pull.config.get). Keys: USER_ID (default: the
     * signed-in user), JSON (true: a JSON string). false when the server is off or no user.
     */
    public static function get(array $params = [])
    {
        global $USER;
        if (!\CPullOptions::GetQueueServerStatus()) {
            return false;
        }
        $userId = (int)($params['USER_ID'] ?? (is_object($USER) ? $USER->GetID() : 0));
        if ($userId <= 0) {
            return false;
        }
        $private = \CPullChannel::Get($userId);
        $shared = \CPullChannel::GetShared();
        if (!$private || !$shared) {
            return false;
        }
        $domain = defined('BX24_HOST_NAME') ? BX24_HOST_NAME : ($_SERVER['SERVER_NAME'] ?? '');
        $d = fn(string $url) => str_replace('#DOMAIN#', $domain, $url);
        $version = \CPullOptions::GetQueueServerVersion();
        $iso = fn(int $ts) => date('c', $ts);

        $privateDescriptor = $private['CHANNEL_PUBLIC_ID'] !== '' && $version > 3
            ? \CPullChannel::SignChannel($private['CHANNEL_ID'] . ':' . $private['CHANNEL_PUBLIC_ID'])
            : \CPullChannel::SignChannel($private['CHANNEL_ID']);
        $config = [
            'server' => [
                'version' => $version,
                'server_enabled' => true,
                'mode' => \CPullOptions::GetQueueServerMode(),
                'hostname' => $domain,
                'long_polling' => $d(\CPullOptions::GetListenUrl()),
                'long_pooling_secure' => $d(\CPullOptions::GetListenSecureUrl()),
                'websocket_enabled' => \CPullOptions::GetWebSocketStatus(),
                'websocket' => $d(\CPullOptions::GetWebSocketUrl()),
                'websocket_secure' => $d(\CPullOptions::GetWebSocketSecureUrl()),
                'publish_enabled' => \CPullOptions::GetPublishWebEnabled(),
                'publish' => $d(\CPullOptions::GetPublishWebUrl()),
                'publish_secure' => $d(\CPullOptions::GetPublishWebSecureUrl()),
                'config_timestamp' => \CPullOptions::GetConfigTimestamp(),
            ],
            'api' => ['revision_web' => 19, 'revision_mobile' => 3],
            'channels' => [
                'shared' => [
                    'id' => \CPullChannel::SignChannel($shared['CHANNEL_ID']),
                    'start' => $iso($shared['CHANNEL_DT']),
                    'end' => $iso($shared['CHANNEL_DT'] + \CPullChannel::CHANNEL_TTL),
                    'type' => 'shared',
                ],
                'private' => [
                    'id' => $privateDescriptor,
                    'public_id' => \CPullChannel::SignPublicChannel($private['CHANNEL_PUBLIC_ID']),
                    'start' => $iso($private['CHANNEL_DT']),
                    'end' => $iso($private['CHANNEL_DT'] + \CPullChannel::CHANNEL_TTL),
                    'type' => 'private',
                ],
            ],
            'publicChannels' => $version > 3 ? [
                $userId => [
                    'user_id' => $userId,
                    'public_id' => $private['CHANNEL_PUBLIC_ID'],
                    'signature' => \CPullChannel::GetPublicSignature($private['CHANNEL_PUBLIC_ID']),
                    'start' => $iso($private['CHANNEL_DT']),
                    'end' => $iso($private['CHANNEL_DT'] + \CPullChannel::CHANNEL_TTL),
                ],
            ] : false,
        ];
        return !empty($params['JSON']) ? json_encode($config, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) : $config;
    }
}
