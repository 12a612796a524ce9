<?php
// CPullOptions: getters and setters of the pull options (notes §6.1).

use Bitrix\Main\Config\Option;

class CPullOptions
{
    public static function GetDefaultOption($name)
    {
        $settings = \Bitrix\Main\Config\Configuration::getValue('pull');
        if (is_array($settings) && isset($settings[$name])) {
            return $settings[$name];
        }
        return Option::getDefaults('pull')[$name] ?? null;
    }

    private static function opt(string $name): string
    {
        return (string)COption::GetOptionString('pull', $name, (string)self::GetDefaultOption($name));
    }

    public static function GetQueueServerStatus()
    {
        if (self::IsServerShared()) {
            return Option::get('pull', 'registered_on_shared_server') === 'Y';
        }
        return self::opt('nginx') === 'Y';
    }

    public static function SetQueueServerStatus($flag = 'N')
    {
        $flag = $flag === 'Y' ? 'Y' : 'N';
        if (self::opt('nginx') === $flag && Option::getRealValue('pull', 'nginx', '') !== null) {
            return true;
        }
        COption::SetOptionString('pull', 'nginx', $flag);
        if ($flag === 'Y') {
            CAgent::AddAgent('CPullChannel::CheckOnlineChannel();', 'pull', 'N', 240, '', 'Y', '', 100, false, false);
        } else {
            CAgent::RemoveAgent('CPullChannel::CheckOnlineChannel();', 'pull');
        }
        return true;
    }

    public static function GetQueueServerVersion()
    {
        return self::IsServerShared() ? 4 : (int)self::opt('nginx_version');
    }

    public static function SetQueueServerVersion($version)
    {
        COption::SetOptionString('pull', 'nginx_version', (string)(int)$version);
        return true;
    }

    public static function GetQueueServerMode()
    {
        return Option::get('pull', 'server_mode') === 'shared' ? 'shared' : 'personal';
    }

    public static function SetQueueServerMode($mode)
    {
        Option::set('pull', 'server_mode', $mode === 'shared' ? 'shared' : 'personal');
        return true;
    }

    public static function IsServerShared()
    {
        return self::GetQueueServerMode() === 'shared';
    }

    public static function GetSignatureKey()
    {
        return self::IsServerShared() ? Option::get('pull', 'shared_server_key') : self::opt('signature_key');
    }

    public static function SetSignatureKey($signature)
    {
        COption::SetOptionString('pull', 'signature_key', $signature);
        return true;
    }

    public static function GetSignatureAlgorithm()
    {
        return self::opt('signature_algo') === 'sha256' ? 'sha256' : 'sha1';
    }

    private static function url(string $option, $channelId): string
    {
        $url = self::opt($option);
        $url = str_replace('#PORT#', self::GetQueueServerVersion() > 1 ? '' : (str_contains($option, 'secure') ? ':8894' : ':8893'), $url);
        if ($channelId !== '' && $channelId !== [] && $channelId !== null) {
            $ids = is_array($channelId) ? implode('/', $channelId) : $channelId;
            $url .= (str_contains($url, '?') ? '&' : '?') . 'CHANNEL_ID=' . $ids;
        }
        return $url;
    }

    private static function setUrl(string $option, $path): bool
    {
        COption::SetOptionString('pull', $option, $path === '' ? (string)self::GetDefaultOption($option) : $path);
        return true;
    }

    public static function GetPublishUrl($channelId = '')
    {
        return self::url('path_to_publish', $channelId);
    }

    public static function SetPublishUrl($path = '')
    {
        return self::setUrl('path_to_publish', $path);
    }

    public static function GetListenUrl($channelId = '')
    {
        return self::url('path_to_modern_listener', $channelId);
    }

    public static function SetListenUrl($path = '')
    {
        return self::setUrl('path_to_modern_listener', $path);
    }

    public static function GetListenSecureUrl($channelId = '')
    {
        return self::url('path_to_modern_listener_secure', $channelId);
    }

    public static function SetListenSecureUrl($path = '')
    {
        return self::setUrl('path_to_modern_listener_secure', $path);
    }

    public static function GetWebSocket()
    {
        return self::GetQueueServerVersion() >= 3 || self::opt('websocket') === 'Y';
    }

    public static function GetWebSocketStatus()
    {
        return self::GetWebSocket() && self::GetQueueServerVersion() > 1;
    }

    public static function SetWebSocket($flag = 'N')
    {
        COption::SetOptionString('pull', 'websocket', $flag === 'Y' ? 'Y' : 'N');
        return true;
    }

    public static function GetWebSocketUrl($channelId = '')
    {
        return self::url('path_to_websocket', $channelId);
    }

    public static function SetWebSocketUrl($path = '')
    {
        return self::setUrl('path_to_websocket', $path);
    }

    public static function GetWebSocketSecureUrl($channelId = '')
    {
        return self::url('path_to_websocket_secure', $channelId);
    }

    public static function SetWebSocketSecureUrl($path = '')
    {
        return self::setUrl('path_to_websocket_secure', $path);
    }

    public static function GetPublishWebEnabled()
    {
        return self::GetQueueServerVersion() > 3;
    }

    public static function GetPublishWebUrl($channelId = '')
    {
        return self::url('path_to_publish_web', $channelId);
    }

    public static function SetPublishWebUrl($path = '')
    {
        return self::setUrl('path_to_publish_web', $path);
    }

    public static function GetPublishWebSecureUrl($channelId = '')
    {
        return self::url('path_to_publish_web_secure', $channelId);
    }

    public static function SetPublishWebSecureUrl($path = '')
    {
        return self::setUrl('path_to_publish_web_secure', $path);
    }

    public static function GetJsonRpcUrl()
    {
        return self::opt('path_to_json_rpc');
    }

    public static function SetJsonRpcUrl($path = '')
    {
        return self::setUrl('path_to_json_rpc', $path);
    }

    public static function GetConfigTimestamp()
    {
        return (int)self::opt('config_timestamp');
    }

    public static function SetConfigTimestamp($timestamp = 0)
    {
        COption::SetOptionString('pull', 'config_timestamp', (string)((int)$timestamp ?: time()));
        return true;
    }

    public static function GetConfigTtl()
    {
        return (int)self::opt('config_ttl');
    }

    public static function IsProtobufEnabled()
    {
        return Option::get('pull', 'enable_protobuf') === 'Y';
    }

    public static function GetMaxPayload()
    {
        return (int)Option::get('pull', 'limit_max_payload');
    }

    public static function GetMaxChannelsPerRequest()
    {
        return (int)Option::get('pull', 'limit_max_channels_per_request');
    }

    public static function GetMaxMessagesPerRequest()
    {
        return (int)Option::get('pull', 'limit_max_messages_per_request');
    }

    public static function GetCommandPerHit()
    {
        return (int)self::opt('nginx_command_per_hit');
    }

    /** Tells clients to reload their config: config_expire to the shared channel, sent at once. */
    public static function SendConfigDie()
    {
        if (!self::GetQueueServerStatus()) {
            return false;
        }
        CPullStack::AddShared(['module_id' => 'pull', 'command' => 'config_expire', 'params' => []]);
        \Bitrix\Pull\Event::send();
        return true;
    }

    public static function ClearCheckCache()
    {
        return true;
    }

    public static function ClearAgent()
    {
        return true;
    }
}
