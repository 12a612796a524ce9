<?php

namespace Bitrix\Pull;

use Bitrix\Main\ArgumentException;
use Bitrix\Main\Config\Option;
use Bitrix\Main\Error;
use Bitrix\Main\Web\HttpClient;
use Bitrix\Pull\StandIn\Wire;

/**
 * The stand-in's stock transport: what pull-transport-vectors.md §3–§6 say the real one
 * does — encode in PHP, POST every RequestBatch to the publish URL. Loaded by the autoloader
 * only when nothing declared \Bitrix\Pull\ProtobufTransport before (bxpush.pull's shim does).
 */
class ProtobufTransport
{
    public static function sendMessages(array $messages, array $options = []): TransportResult
    {
        $url = $options['serverUrl'] ?? Config::getPublishUrl();
        $batches = self::encodeBatches($messages);   // throws before anything is sent
        $result = (new TransportResult())->withRemoteAddress($url);
        foreach ($batches as $body) {
            $http = new HttpClient(['streamTimeout' => 1]);
            $http->disableSslVerification();
            if ($http->post(self::target($url), $body) === false) {
                foreach ($http->getError() as $code => $message) {
                    $result->addError(new Error($message, $code));
                }
            }
        }
        return $result;
    }

    /** The RequestBatch bodies of §3 steps 1–6 (stand-in helper, also used by tests). */
    public static function encodeBatches(array $messages, ?array $limits = null): array
    {
        $maxChannels = max(1, (int)($limits['max_channels_per_request'] ?? \CPullOptions::GetMaxChannelsPerRequest()));
        $maxMessages = (int)($limits['max_messages_per_request'] ?? \CPullOptions::GetMaxMessagesPerRequest());
        $maxPayload = (int)($limits['max_payload'] ?? \CPullOptions::GetMaxPayload());
        $encoded = [];
        foreach ($messages as $entry) {
            $event = $entry['event'] ?? null;
            if (!is_array($entry['channels'] ?? null) || !$entry['channels'] || !isset($event['module_id'], $event['command'])) {
                continue;
            }
            $data = [
                'module_id' => $event['module_id'],
                'command' => $event['command'],
                'params' => $event['params'] ?: [],
                'extra' => is_array($event['extra'] ?? null) ? $event['extra'] : [],
            ];
            array_walk_recursive($data, function (&$v) {
                if ($v instanceof \Bitrix\Main\Type\DateTime) {
                    $v = date('c', $v->getTimestamp());
                }
            });
            try {
                $body = json_encode($data, JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
            } catch (\JsonException $e) {
                throw new ArgumentException('JSON error: ' . $e->getMessage() . ' [' . $e->getCode() . ']', 'messages');
            }
            $type = preg_replace('/[^a-zA-Z0-9_]/', '', $event['module_id'] . '_' . $event['command']);
            foreach (array_chunk(array_values($entry['channels']), $maxChannels) as $chunk) {
                $encoded[] = Wire::incomingMessage($chunk, $body, (int)($event['expiry'] ?? 0), $type);
            }
        }
        // packing (§3.5): the running size is never reset after a split
        $requests = [];
        $current = [];
        $total = 0;
        $limitBytes = $maxPayload - 200;
        foreach ($encoded as $m) {
            $size = strlen($m);
            if ($total + $size >= $limitBytes || count($current) >= $maxMessages) {
                $requests[] = $current;
                $current = [];
                $size = 0;
            }
            $current[] = $m;
            $total += $size;
        }
        if ($current) {
            $requests[] = $current;
        }
        return array_map([Wire::class, 'publishBatch'], $requests);
    }

    public static function getOnlineChannels(array $channels)
    {
        $per = max(1, \CPullOptions::GetMaxChannelsPerRequest() - 1);
        $online = [];
        foreach (array_chunk(array_values($channels), $per) as $chunk) {
            $http = new HttpClient(['streamTimeout' => 1]);
            $http->disableSslVerification();
            $reply = $http->post(self::target(Config::getPublishUrl()), Wire::channelStatsBatch($chunk));
            if ($reply === false || $http->getStatus() !== 200 || $reply === '') {
                return [];
            }
            try {
                $responses = array_values(array_filter(Wire::decode($reply), fn($f) => $f[0] === 1));
                if (!$responses) {
                    return [];
                }
                foreach (Wire::decode($responses[0][1]) as [$f, $stats]) {
                    if ($f !== 2) {
                        continue;
                    }
                    foreach (Wire::decode($stats) as [$cf, $channel]) {
                        if ($cf !== 1) {
                            continue;
                        }
                        $id = null;
                        $isOnline = false;
                        foreach (Wire::decode($channel) as [$k, $v]) {
                            if ($k === 1) {
                                $id = $v;
                            } elseif ($k === 3) {
                                $isOnline = (bool)$v;
                            }
                        }
                        if ($isOnline && $id !== null) {
                            $online[bin2hex($id)] = true;
                        }
                    }
                }
            } catch (\UnexpectedValueException $e) {
                return [];
            }
        }
        return $online;
    }

    private static function target(string $url): string
    {
        return $url . (str_contains($url, '?') ? '&' : '?') . 'binaryMode=true&hostname=' . urlencode(Config::getHostname());
    }
}
