<?php
// CPullChannel: channel rows (b_pull_channel), signatures, the legacy text publish, and the
// online check agent. Channel ids are md5("<seed>|<type>|<user>") with the site's seed
// (docroot.php), so tests can predict them; with seed "realpull|vectors" they are the ids of
// pull-transport-vectors.json.

use BxStandin\Db;

class CPullChannel
{
    public const TYPE_PRIVATE = 'private';
    public const TYPE_SHARED = 'shared';
    public const CHANNEL_TTL = 43205;

    public static function Get($userId, $cache = true, $reOpen = false, $channelType = self::TYPE_PRIVATE)
    {
        if (!CPullOptions::GetQueueServerStatus()) {
            return false;
        }
        $userId = (int)$userId;
        $key = $userId . '|' . $channelType;
        $row = Db::table('b_pull_channel')[$key] ?? null;
        if ($row === null) {
            $row = Db::mutate(function (array &$t) use ($key, $userId, $channelType) {
                if (isset($t['b_pull_channel'][$key])) {
                    return $t['b_pull_channel'][$key];
                }
                $seed = $t['_standin']['channel_seed'] ?? 'bxstandin';
                $t['b_pull_channel'][$key] = [
                    'USER_ID' => $userId,
                    'CHANNEL_TYPE' => $channelType,
                    'CHANNEL_ID' => md5("$seed|$channelType|$userId"),
                    'CHANNEL_PUBLIC_ID' => $userId > 0 ? md5("$seed|public|$userId") : '',
                    'CHANNEL_DT' => time(),
                    'LAST_ID' => 0,
                ];
                return $t['b_pull_channel'][$key];
            });
        }
        return $row;
    }

    public static function GetShared($cache = true, $reOpen = false, $channelType = self::TYPE_SHARED)
    {
        return self::Get(0, $cache, $reOpen, $channelType);
    }

    public static function GetChannelShared($channelType = self::TYPE_SHARED, $cache = true, $reOpen = false)
    {
        return self::GetShared($cache, $reOpen, $channelType);
    }

    public static function GetChannel($userId, $channelType = self::TYPE_PRIVATE, $cache = true, $reOpen = false)
    {
        return self::Get($userId, $cache, $reOpen, $channelType);
    }

    public static function GetSignature($value, $signatureKey = null)
    {
        $key = $signatureKey ?? \Bitrix\Pull\Config::getSignatureKey();
        return hash_hmac(CPullOptions::GetSignatureAlgorithm(), (string)$value, (string)$key);
    }

    public static function SignChannel($channelId)
    {
        $key = \Bitrix\Pull\Config::getSignatureKey();
        return $key === '' ? $channelId : $channelId . '.' . self::GetSignature($channelId, $key);
    }

    public static function SignPublicChannel($channelId)
    {
        $key = \Bitrix\Pull\Config::getSignatureKey();
        return $key === '' ? '' : $channelId . '.' . self::GetPublicSignature($channelId);
    }

    public static function GetPublicSignature($value)
    {
        return self::GetSignature('public:' . $value);
    }

    /**
     * Legacy text publish (CPullChannel::SendCommand): POST the text to path_to_publish with
     * the unsigned ids; Message-Expiry when given. Returns the decoded {"infos": [body]}
     * (an object) or false.
     */
    public static function Send($channelId, $message, $options = [])
    {
        $ids = is_array($channelId) ? implode('/', array_unique($channelId)) : $channelId;
        $http = new \Bitrix\Main\Web\HttpClient(['socketTimeout' => 5, 'streamTimeout' => 5, 'waitResponse' => empty($options['dont_wait_answer'])]);
        if (isset($options['expiry'])) {
            $http->setHeader('Message-Expiry', (string)(int)$options['expiry']);
        }
        $body = $http->post(CPullOptions::GetPublishUrl($ids), $message);
        if ($body === false) {
            return false;
        }
        if (!empty($options['dont_wait_answer'])) {
            return true;
        }
        return json_decode('{"infos": [' . $body . ']}') ?: false;
    }

    public static function GetOnlineChannels(array $channels)
    {
        return \Bitrix\Pull\ProtobufTransport::getOnlineChannels($channels);
    }

    /** Agent: asks the server which private channels are online (the one caller of getOnlineChannels). */
    public static function CheckOnlineChannel()
    {
        $map = [];
        foreach (Db::table('b_pull_channel') as $row) {
            if ($row['CHANNEL_TYPE'] === self::TYPE_PRIVATE && $row['USER_ID'] > 0) {
                $map[$row['CHANNEL_ID']] = $row['USER_ID'];
            }
        }
        if ($map && \Bitrix\Pull\Config::isProtobufUsed()) {
            $online = \Bitrix\Pull\ProtobufTransport::getOnlineChannels(array_keys($map));
            Db::mutate(function (array &$t) use ($online, $map) {
                $t['_standin']['online_users'] = array_values(array_map(fn($ch) => $map[$ch] ?? null, array_keys($online)));
            });
        }
        return 'CPullChannel::CheckOnlineChannel();';
    }
}
