<?php
// Live status for the settings page, collected through the PHP extension: the owner's
// /server-stat/ (BxPush\Server::stats()), this worker's forwarder (BxPush\status()), the
// spool directory every worker shares, the pull options, and the module's recent errors.
// `problems` turns what is wrong into messages that name the fix; the page uses them to
// explain a test event that did not arrive.

namespace Bxpush\Pull\Settings;

use Bitrix\Main\Config\Option;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\Web\HttpClient;
use Bxpush\Pull\Notices;

Loc::loadMessages(__FILE__);

final class Status
{
    /** The whole picture, JSON-ready. No secret is included. */
    public static function collect(): array
    {
        $ext = self::extension();
        $runtime = self::runtime($ext['loaded']);
        $spool = self::spool($ext['loaded']);
        $pull = self::pull($ext);
        $status = [
            'time' => (int)round(microtime(true) * 1000),
            'extension' => $ext,
            'runtime' => $runtime,
            'spool' => $spool,
            'pull' => $pull,
            'errors' => ErrorLog::all(),
        ];
        $status['problems'] = self::problems($status);
        return $status;
    }

    public static function extension(): array
    {
        if (!extension_loaded('bxpush')) {
            return ['loaded' => false, 'version' => null, 'server' => null, 'keySet' => false, 'algo' => null];
        }
        $key = (string)ini_get('bxpush.signature_key');
        return [
            'loaded' => true,
            'version' => phpversion('bxpush') ?: null,
            'server' => (string)ini_get('bxpush.server'),
            'keySet' => $key !== '',
            'algo' => (string)ini_get('bxpush.signature_algo'),
        ];
    }

    /**
     * The owner's figures, or why they could not be read: through the extension
     * (BxPush\Server::stats() asks the owner at bxpush.server), or, without the extension
     * (HTTP-only site), GET /server-stat/ next to the pull module's publish URL
     * (bxpush serve's --listen-pub).
     */
    public static function runtime(bool $extensionLoaded): array
    {
        if ($extensionLoaded) {
            $via = ['via' => 'extension', 'address' => (string)ini_get('bxpush.server')];
            try {
                $s = \BxPush\Server::stats();
            } catch (\Throwable $e) {
                return ['reachable' => false, 'error' => ErrorLog::redact($e->getMessage())] + $via;
            }
        } else {
            $url = self::statUrl((string)Option::get('pull', 'path_to_publish', ''));
            $via = ['via' => 'http', 'address' => $url];
            if ($url === null) {
                return ['reachable' => false, 'error' => (string)Loc::getMessage('BXPUSH_PULL_STATUS_NO_PUBLISH_URL')] + $via;
            }
            $http = new HttpClient(['socketTimeout' => 2, 'streamTimeout' => 2]);
            $body = $http->get($url);
            if ($body === false || $http->getStatus() !== 200) {
                $err = $body === false ? implode('; ', $http->getError()) : 'HTTP ' . $http->getStatus();
                return ['reachable' => false, 'error' => $url . ': ' . $err] + $via;
            }
            $s = json_decode((string)$body, true);
        }
        if (is_array($s) && array_is_list($s) && isset($s[0]) && is_array($s[0])) {
            $s = $s[0];
        }
        if (!is_array($s)) {
            return ['reachable' => false, 'error' => (string)Loc::getMessage('BXPUSH_PULL_STATUS_BAD_STATS')] + $via;
        }
        $b = is_array($s['bxpush'] ?? null) ? $s['bxpush'] : [];
        $daily = is_array($s['daily'] ?? null) ? $s['daily'] : [];
        $messagesByKind = is_array($daily['messages'] ?? null) ? array_map('intval', $daily['messages']) : [];
        $requestsByKind = is_array($daily['requests'] ?? null) ? array_map('intval', $daily['requests']) : [];
        $ws = (int)($s['websockets'] ?? 0);
        $lp = (int)($s['pollings'] ?? 0);
        $sse = (int)($b['sse'] ?? 0);
        $ingress = is_array($b['ingress'] ?? null) ? $b['ingress'] : [];
        return $via + [
            'reachable' => true,
            'error' => null,
            'version' => isset($b['version']) ? (string)$b['version'] : null,
            'pid' => isset($s['pid']) ? (int)$s['pid'] : null,
            'uptimeSeconds' => isset($b['uptimeSeconds']) ? (int)$b['uptimeSeconds'] : null,
            'connections' => ['websocket' => $ws, 'longPolling' => $lp, 'sse' => $sse, 'total' => $ws + $lp + $sse],
            'channels' => (int)($s['channels'] ?? 0),
            'messagesToday' => array_sum($messagesByKind),
            'messagesTodayByKind' => $messagesByKind,
            'requestsToday' => array_sum($requestsByKind),
            'published' => (int)($b['published'] ?? 0),
            'badRequests' => (int)($b['badRequests'] ?? 0),
            'slowReadersCut' => (int)($b['slowReadersCut'] ?? 0),
            'kickedTooManyConnections' => (int)($b['kickedTooManyConnections'] ?? 0),
            'refusedConnections' => (int)($b['refusedConnections'] ?? 0),
            'storedMessages' => (int)($b['storedMessages'] ?? 0),
            'ingress' => [
                'applied' => (int)($ingress['applied'] ?? 0),
                'duplicates' => (int)($ingress['duplicates'] ?? 0),
                'rejected' => (int)($ingress['rejected'] ?? 0),
                'connections' => (int)($ingress['connections'] ?? 0),
                'refused' => (int)($ingress['refused'] ?? 0),
            ],
        ];
    }

    /**
     * The workers' spool backlog: `*.spool` files in `bxpush.spool_dir` (shared by every
     * worker; each file is one batch a worker could not get acknowledged), undecodable
     * `*.bad` files, and this worker's forwarder counters.
     */
    public static function spool(bool $extensionLoaded): array
    {
        if (!$extensionLoaded) {
            return ['dir' => null, 'files' => 0, 'bytes' => 0, 'bad' => 0, 'oldestSeconds' => null, 'error' => null, 'worker' => null];
        }
        $dir = (string)ini_get('bxpush.spool_dir');
        $out = ['dir' => $dir, 'files' => 0, 'bytes' => 0, 'bad' => 0, 'oldestSeconds' => null, 'error' => null, 'worker' => null];
        if ($dir !== '' && is_dir($dir)) {
            $names = @scandir($dir);
            if ($names === false) {
                $out['error'] = (string)Loc::getMessage('BXPUSH_PULL_STATUS_SPOOL_UNREADABLE', ['#DIR#' => $dir]);
            } else {
                $oldest = null;
                foreach ($names as $name) {
                    if (str_ends_with($name, '.spool') && $name[0] !== '.') {
                        $out['files']++;
                        $out['bytes'] += (int)@filesize($dir . '/' . $name);
                        // <unix_nanos:020>-<pid>-<origin>-<seq>.spool: the name says when it was written
                        $nanos = (int)substr($name, 0, 20);
                        if ($nanos > 0 && ($oldest === null || $nanos < $oldest)) {
                            $oldest = $nanos;
                        }
                    } elseif (str_ends_with($name, '.bad')) {
                        $out['bad']++;
                    }
                }
                if ($oldest !== null) {
                    $out['oldestSeconds'] = max(0, time() - intdiv($oldest, 1000000000));
                }
            }
        }
        try {
            $st = \BxPush\status();
            $fw = is_array($st['forwarder_stats'] ?? null) ? $st['forwarder_stats'] : [];
            $out['worker'] = [
                'pid' => (int)($st['pid'] ?? 0),
                'forwarder' => (bool)($st['forwarder'] ?? false),
                'connected' => (bool)($fw['connected'] ?? false),
                'queued' => (int)($fw['queued'] ?? 0),
                'spooled' => (int)($fw['spooled'] ?? 0),
                'replayed' => (int)($fw['replayed'] ?? 0),
                'acked' => (int)($fw['acked'] ?? 0),
                'rejected' => (int)($fw['rejected'] ?? 0),
            ];
        } catch (\Throwable $e) {
            $out['error'] = ErrorLog::redact($e->getMessage());
        }
        return $out;
    }

    /** The pull options that decide whether the stock client and sender use bxpush. */
    public static function pull(array $ext): array
    {
        $key = (string)Option::get('pull', 'signature_key', '');
        $algo = (string)Option::get('pull', 'signature_algo', 'sha1');
        $extKey = $ext['loaded'] ? (string)ini_get('bxpush.signature_key') : null;
        return [
            'enabled' => Option::get('pull', 'nginx', 'N') === 'Y',
            'version' => (int)Option::get('pull', 'nginx_version', '0'),
            'mode' => (string)Option::get('pull', 'server_mode', ''),
            'protobuf' => Option::get('pull', 'enable_protobuf', 'N') === 'Y',
            'keySet' => $key !== '',
            'keyMatches' => $extKey === null ? null : hash_equals($extKey, $key),
            'algo' => $algo,
            'algoMatches' => $ext['loaded'] ? $algo === (string)$ext['algo'] : null,
            'shim' => self::shimActive(),
        ];
    }

    /** `scheme://host:port/server-stat/` of a publish URL, null when it has no host. */
    public static function statUrl(string $publish): ?string
    {
        $u = parse_url($publish);
        if (!is_array($u) || empty($u['host']) || str_contains($publish, '#DOMAIN#')) {
            return null;
        }
        return ($u['scheme'] ?? 'http') . '://' . $u['host'] . (isset($u['port']) ? ':' . $u['port'] : '') . '/server-stat/';
    }

    /**
     * Whether sends of this hit go through the module's transport shim: the extension's
     * hand-off function exists and the `\Bitrix\Pull\ProtobufTransport` declared is not the
     * pull module's own file.
     */
    public static function shimActive(): bool
    {
        if (!function_exists('BxPush\\send_pull_messages') || !class_exists('Bitrix\\Pull\\ProtobufTransport', false)) {
            return false;
        }
        $file = (string)(new \ReflectionClass('Bitrix\\Pull\\ProtobufTransport'))->getFileName();
        return str_contains($file, '/bxpush.pull/');
    }

    /**
     * What is wrong, most likely cause first: list of ['code' => …, 'message' => …].
     *
     * @return list<array{code: string, message: string}>
     */
    public static function problems(array $st): array
    {
        $p = [];
        $add = function (string $messageCode, array $replace = []) use (&$p) {
            $p[] = [
                'code' => preg_replace('/^.*_PROBLEM_/', '', $messageCode),
                'message' => (string)Loc::getMessage($messageCode, $replace),
            ];
        };
        $ext = $st['extension'];
        if (!$ext['loaded']) {
            $add('BXPUSH_PULL_PROBLEM_NO_EXTENSION');
            if (!$st['runtime']['reachable']) {
                $add('BXPUSH_PULL_PROBLEM_RUNTIME_DOWN_HTTP', ['#ERROR#' => (string)$st['runtime']['error']]);
            }
        } elseif (!$st['runtime']['reachable']) {
            $add('BXPUSH_PULL_PROBLEM_RUNTIME_DOWN', ['#SERVER#' => (string)$ext['server'], '#ERROR#' => (string)$st['runtime']['error']]);
        }
        if ($ext['loaded'] && !$ext['keySet']) {
            $add('BXPUSH_PULL_PROBLEM_EXT_KEY_EMPTY');
        }
        if (!$st['pull']['enabled']) {
            $add('BXPUSH_PULL_PROBLEM_PULL_DISABLED');
        }
        if ($st['pull']['version'] !== 0 && $st['pull']['version'] < 4) {
            $add('BXPUSH_PULL_PROBLEM_PULL_VERSION', ['#VERSION#' => $st['pull']['version']]);
        }
        if ($st['pull']['keyMatches'] === false && $ext['keySet']) {
            $add('BXPUSH_PULL_PROBLEM_KEY_MISMATCH');
        }
        if ($st['pull']['algoMatches'] === false) {
            $add('BXPUSH_PULL_PROBLEM_ALGO_MISMATCH', ['#ALGO#' => $st['pull']['algo'], '#EXT_ALGO#' => (string)$ext['algo']]);
        }
        if ($st['spool']['files'] > 0 && $st['runtime']['reachable']) {
            $add('BXPUSH_PULL_PROBLEM_SPOOL_BACKLOG', ['#FILES#' => $st['spool']['files'], '#DIR#' => (string)$st['spool']['dir']]);
        }
        if ($st['spool']['bad'] > 0) {
            $add('BXPUSH_PULL_PROBLEM_SPOOL_BAD', ['#COUNT#' => $st['spool']['bad'], '#DIR#' => (string)$st['spool']['dir']]);
        }
        // What the health agent found on its last run (its admin notices) and the page does
        // not check itself: the runtime, the keys and the extension it has just checked.
        $ownChecks = class_exists(Notices::class) ? [Notices::RUNTIME, Notices::KEY, Notices::EXTENSION, Notices::HTTP_ONLY] : [];
        foreach (self::notices() as $tag => $message) {
            if (!in_array($tag, $ownChecks, true)) {
                $p[] = ['code' => 'NOTICE:' . $tag, 'message' => $message];
            }
        }
        return $p;
    }

    /** @return array<string, string> tag => message of this module's admin notices */
    public static function notices(): array
    {
        if (!class_exists('CAdminNotify')) {
            return [];
        }
        $out = [];
        $rs = \CAdminNotify::GetList([], ['MODULE_ID' => 'bxpush.pull']);
        while ($rs && ($row = $rs->Fetch())) {
            $out[(string)($row['TAG'] ?? '')] = ErrorLog::redact((string)($row['MESSAGE'] ?? ''));
        }
        return $out;
    }
}
