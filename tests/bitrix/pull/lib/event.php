<?php

namespace Bitrix\Pull;

use Bitrix\Main\Application;
use Bitrix\Main\Config\Option;
use Bitrix\Main\Error;

/**
 * The pull module's sender queue (notes §7.3, vectors §2 and §5): add() merges identical
 * messages, the flush resolves users to channel ids and hands the whole queue to
 * ProtobufTransport::sendMessages() (version 4 + protobuf) or the legacy text publish;
 * the queue is emptied whatever the result, and kept when the transport throws.
 */
class Event
{
    /** key => ['event' => [...], 'users' => [...], 'channels' => [...]] */
    private static array $messages = [];
    /** key => channel type of the entry's users */
    private static array $channelTypes = [];
    private static ?Error $error = null;
    private static bool $scheduled = false;

    /** Stand-in only: [server_time, server_time_unix] instead of the clock (the vectors' fixed time). */
    public static ?array $standinClock = null;

    public static function add($recipient, array $parameters, $channelType = 'private')
    {
        self::$error = null;
        if (!isset($parameters['module_id']) || (string)$parameters['module_id'] === '') {
            self::$error = new Error('Event format is incorrect: module_id is required', 'EVENT_PARAMETERS_FORMAT');
            return false;
        }
        if (!isset($parameters['command']) || (string)$parameters['command'] === '') {
            self::$error = new Error('Event format is incorrect: command is required (mobile push is not part of the stand-in)', 'EVENT_PARAMETERS_FORMAT');
            return false;
        }
        if (!self::isValidUtf8($parameters)) {
            self::$error = new Error('Event parameters contain invalid UTF-8', 'EVENT_BAD_ENCODING');
            return false;
        }
        [$users, $channels] = self::recipients($recipient);

        if (!empty($parameters['user_params']) && is_array($parameters['user_params'])) {
            // one message per distinct parameter set (vectors case k)
            $perUser = $parameters['user_params'];
            unset($parameters['user_params']);
            $plain = [];
            foreach ($users as $u) {
                if (isset($perUser[$u]) && is_array($perUser[$u])) {
                    $p = $parameters;
                    $p['params'] = array_merge(is_array($p['params'] ?? null) ? $p['params'] : [], $perUser[$u]);
                    self::queue([$u], [], $p, $channelType);
                } else {
                    $plain[] = $u;
                }
            }
            if ($plain || $channels) {
                self::queue($plain, $channels, $parameters, $channelType);
            }
            self::scheduleSending();
            return null;
        }
        if (!$users && !$channels) {
            self::$error = new Error('No recipients', 'EVENT_RECIPIENTS_FORMAT');
            return false;
        }
        self::queue($users, $channels, $parameters, $channelType);
        self::scheduleSending();
        return true;
    }

    private static function queue(array $users, array $channels, array $parameters, string $channelType): void
    {
        $event = self::prepare($parameters);
        $keyed = $event;
        unset($keyed['extra']['server_time'], $keyed['extra']['server_time_unix']);
        $keyed['channel_type'] = $channelType;
        $key = serialize($keyed);
        if (isset(self::$messages[$key])) {
            self::$messages[$key]['users'] = array_unique(array_merge(self::$messages[$key]['users'], $users));
            self::$messages[$key]['channels'] = array_unique(array_merge(self::$messages[$key]['channels'], $channels));
            return;
        }
        self::$messages[$key] = ['event' => $event, 'users' => $users, 'channels' => $channels];
        self::$channelTypes[$key] = $channelType;
    }

    private static function prepare(array $p): array
    {
        $extra = is_array($p['extra'] ?? null) ? $p['extra'] : [];
        $extra['server_time'] ??= self::$standinClock[0] ?? date('c');
        $extra['server_time_unix'] ??= self::$standinClock[1] ?? microtime(true);
        $extra['server_name'] = (string)Option::get('main', 'server_name', '');
        $extra['revision_web'] = 19;
        $extra['revision_mobile'] = 3;
        // the caller's keys keep their order; expiry and extra are set in place or appended
        $event = [];
        foreach ($p as $k => $v) {
            if (!in_array($k, ['channel_type', 'push', 'pushParamsCallback', 'hasCallback', 'user_params', 'dictionary'], true)) {
                $event[$k] = $v;
            }
        }
        $event['module_id'] = strtolower((string)$p['module_id']);
        $event['params'] = is_array($p['params'] ?? null) ? $p['params'] : [];
        $event['expiry'] = isset($p['expiry']) ? (int)$p['expiry'] : 86400;
        $event['extra'] = $extra;
        return $event;
    }

    /** [user ids, channel ids]: ints are users, 32-hex strings channels, Model\Channel objects channels. */
    private static function recipients($recipient): array
    {
        $users = [];
        $channels = [];
        foreach (is_array($recipient) ? $recipient : [$recipient] as $r) {
            if ($r instanceof Model\Channel) {
                $channels[] = $r->getPrivateId();
            } elseif (is_string($r) && preg_match('/^[0-9a-f]{32}$/', $r)) {
                $channels[] = $r;
            } elseif ((is_int($r) || (is_string($r) && ctype_digit($r))) && (int)$r > 0) {
                $users[] = (int)$r;
            }
        }
        return [$users, $channels];
    }

    private static function isValidUtf8($v): bool
    {
        if (is_array($v)) {
            foreach ($v as $k => $x) {
                if (!self::isValidUtf8($k) || !self::isValidUtf8($x)) {
                    return false;
                }
            }
            return true;
        }
        return !is_string($v) || preg_match('//u', $v) === 1;
    }

    private static function scheduleSending(): void
    {
        if (defined('BX_CHECK_AGENT_START') && !defined('BX_WITH_ON_AFTER_EPILOG')) {
            self::send();
            return;
        }
        if (!self::$scheduled) {
            self::$scheduled = true;
            Application::getInstance()->addBackgroundJob([self::class, 'sendInBackground'], [], Application::JOB_PRIORITY_LOW);
        }
    }

    public static function sendInBackground()
    {
        self::$scheduled = false;
        return self::send();
    }

    /** Flushes; transport errors become E_USER_WARNINGs; always true (vectors §5). */
    public static function send()
    {
        $result = self::executeEvents();
        if (!$result->isSuccess()) {
            foreach ($result->getErrors() as $e) {
                $code = (string)$e->getCode();
                trigger_error('Pull send error; ' . ($code !== '' ? "$code: " : '') . $e->getMessage() . '; remote endpoint: ' . $result->getRemoteAddress(), E_USER_WARNING);
            }
        }
        return true;
    }

    public static function executeEvents(): TransportResult
    {
        $result = new TransportResult();
        if (!self::$messages) {
            return $result;
        }
        if (!\CPullOptions::GetQueueServerStatus()) {
            self::$messages = [];
            return $result;
        }
        // Resolve users into the queue itself: a flush that throws leaves them appended (vectors §5).
        foreach (self::$messages as $key => $entry) {
            foreach ($entry['users'] as $userId) {
                $ch = \CPullChannel::Get($userId, true, false, self::$channelTypes[$key] ?? 'private');
                if ($ch) {
                    self::$messages[$key]['channels'][] = $ch['CHANNEL_ID'];
                }
            }
            self::$messages[$key]['channels'] = array_values(self::$messages[$key]['channels']);
        }
        $messages = self::$messages;
        if (Config::isJsonRpcUsed()) {
            $sent = (new TransportResult())->addError(new Error('JSON-RPC (version 5) is not part of the stand-in pull module', 'NOT_SUPPORTED'));
        } elseif (Config::isProtobufUsed()) {
            $sent = ProtobufTransport::sendMessages($messages);
        } else {
            $sent = self::sendLegacy($messages);
        }
        self::$messages = [];
        self::$channelTypes = [];
        if (!$sent->isSuccess()) {
            $result->addErrors($sent->getErrors());
            $result->withRemoteAddress($sent->getRemoteAddress());
        }
        return $result;
    }

    /** Legacy text mode: one POST per entry (CPullChannel::Send); reports success even when a POST failed. */
    private static function sendLegacy(array $messages): TransportResult
    {
        foreach ($messages as $m) {
            if (!$m['channels']) {
                continue;
            }
            $e = $m['event'];
            $body = json_encode(['module_id' => $e['module_id'], 'command' => $e['command'], 'params' => $e['params'], 'extra' => $e['extra']], JSON_UNESCAPED_UNICODE);
            \CPullChannel::Send($m['channels'], $body, ['expiry' => $e['expiry']]);
        }
        return (new TransportResult())->withRemoteAddress(Config::getPublishUrl());
    }

    public static function getLastError()
    {
        return self::$error;
    }

    /** Stand-in only: what is queued now (tests check that a failed flush keeps it). */
    public static function standinQueue(): array
    {
        return self::$messages;
    }
}
