<?php
// What the shim's ProtobufTransport does (contract: pull-transport-vectors.md §3, §6):
// - sendMessages without serverUrl: the whole prepared queue to the extension
//   (BxPush\send_pull_messages: encoded in Rust, one publish per selected entry, handed to the
//   owner by the forwarder; spooled on disk while the owner is down, replayed in order,
//   exactly once). No HTTP request.
// - sendMessages with serverUrl: the caller wants that server (e.g. a switch notice): the
//   extension encodes the exact batches the stock transport would POST, sent over HTTP.
// - getOnlineChannels: asked of the owner through the extension.
// Exceptions as the stock transport: JSON failures → ArgumentException, a negative expiry
// without gmp/bcmath → RuntimeException; any other extension error is an error in the result.

namespace Bxpush\Pull\Shim;

use Bitrix\Main\ArgumentException;
use Bitrix\Main\Error;
use Bitrix\Main\Web\HttpClient;
use Bitrix\Pull\Config;
use Bitrix\Pull\TransportResult;

final class Sender
{
    public const ERROR_CODE = 'BXPUSH';

    public static function sendMessages(array $messages, array $options = []): TransportResult
    {
        $remote = isset($options['serverUrl']) ? (string)$options['serverUrl'] : Config::getPublishUrl();
        $result = (new TransportResult())->withRemoteAddress($remote);
        try {
            if (isset($options['serverUrl'])) {
                self::post($remote, \BxPush\encode_pull_batches($messages, self::limits()), $result);
            } else {
                $sent = \BxPush\send_pull_messages($messages);
                // an entry bxpush cannot take (a body over its payload limit) is an error of
                // the result, so the pull module warns instead of losing it silently
                foreach ($sent['refused'] ?? [] as $key => $reason) {
                    $result->addError(new Error('bxpush refused a message (' . self::shortKey((string)$key) . '): ' . $reason, self::ERROR_CODE));
                }
            }
        } catch (\BxPush\Exception $e) {
            match ($e->getCode()) {
                1 => throw new ArgumentException($e->getMessage(), 'messages', $e),
                2 => throw new \RuntimeException($e->getMessage(), 0, $e),
                default => $result->addError(new Error($e->getMessage(), self::ERROR_CODE)),
            };
        }
        return $result;
    }

    public static function getOnlineChannels(array $channels)
    {
        $channels = array_values(array_filter($channels, 'is_string'));
        if (!$channels) {
            return [];
        }
        try {
            $stats = \BxPush\channel_stats($channels);
        } catch (\BxPush\Exception $e) {
            return [];   // as the stock transport on any failure
        }
        $online = [];
        foreach ($stats as $channel => $isOnline) {
            if ($isOnline) {
                $online[strtolower((string)$channel)] = true;
            }
        }
        return $online;
    }

    /** The queue's keys are long serialized strings: enough of one to recognise the message. */
    private static function shortKey(string $key): string
    {
        return strlen($key) > 80 ? substr($key, 0, 77) . '...' : $key;
    }

    /** The pull options that shape the stock batches. */
    private static function limits(): array
    {
        return [
            'max_channels_per_request' => \CPullOptions::GetMaxChannelsPerRequest(),
            'max_messages_per_request' => \CPullOptions::GetMaxMessagesPerRequest(),
            'max_payload' => \CPullOptions::GetMaxPayload(),
        ];
    }

    /** POSTs each batch as the stock transport does; a failed POST is an error and the next is still sent. */
    private static function post(string $url, array $batches, TransportResult $result): void
    {
        $target = $url . (str_contains($url, '?') ? '&' : '?') . 'binaryMode=true&hostname=' . urlencode(Config::getHostname());
        foreach ($batches as $body) {
            $http = new HttpClient(['streamTimeout' => 1]);
            $http->disableSslVerification();
            if ($http->post($target, $body) === false) {
                foreach ($http->getError() as $code => $message) {
                    $result->addError(new Error($message, $code));
                }
            }
        }
    }
}
