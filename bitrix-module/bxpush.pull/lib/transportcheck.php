<?php
// May this hit declare the shim \Bitrix\Pull\ProtobufTransport? Only when
//  1. the extension has the pull-message functions,
//  2. nothing declared the class yet (the pull module's own file was not loaded),
//  3. the pull module in place has the transport API the shim implements: its
//     lib/protobuftransport.php declares `sendMessages(array $messages, array $options = [])`
//     returning TransportResult and `getOnlineChannels(array $channels)`, its
//     lib/transportresult.php has `withRemoteAddress(string …)`, and its lib/event.php still
//     calls `ProtobufTransport::sendMessages(`.
// (3) reads three files of the pull module, never includes them; the verdict is cached in
// this module's option `transport_check` keyed by the files' mtime and size, so a hit costs
// three stat() calls, and a pull update (new files) is checked again on the next hit.

namespace Bxpush\Pull;

use Bitrix\Main\Config\Option;
use Bitrix\Main\Loader;
use Bitrix\Main\ModuleManager;

final class TransportCheck
{
    public const FILES = ['lib/protobuftransport.php', 'lib/transportresult.php', 'lib/event.php'];

    private const PATTERNS = [
        'lib/protobuftransport.php' => [
            'namespace' => '/^\s*namespace\s+Bitrix\\\\Pull\s*;/m',
            'class' => '/\bclass\s+ProtobufTransport\b/',
            'sendMessages' => '/public\s+static\s+function\s+sendMessages\s*\(\s*array\s+\$messages\s*,\s*array\s+\$options\s*=\s*(\[\s*\]|array\s*\(\s*\))\s*\)\s*:\s*\\\\?(Bitrix\\\\Pull\\\\)?TransportResult\b/i',
            'getOnlineChannels' => '/public\s+static\s+function\s+getOnlineChannels\s*\(\s*array\s+\$channels\s*\)/i',
        ],
        'lib/transportresult.php' => [
            'class' => '/\bclass\s+TransportResult\b/',
            'withRemoteAddress' => '/public\s+function\s+withRemoteAddress\s*\(\s*string\s+\$\w+\s*\)/i',
        ],
        'lib/event.php' => [
            'caller' => '/ProtobufTransport::sendMessages\s*\(/',
        ],
    ];

    private static ?array $verdict = null;

    /** true when this hit may declare the shim; why not otherwise: reason(). */
    public static function shimAllowed(): bool
    {
        return self::verdict()['ok'];
    }

    public static function reason(): string
    {
        return self::verdict()['reason'];
    }

    /** Forget the cached verdict (install, tests). */
    public static function reset(): void
    {
        self::$verdict = null;
        Option::delete(PullOptions::MODULE_ID, ['name' => 'transport_check']);
    }

    private static function verdict(): array
    {
        if (self::$verdict !== null) {
            return self::$verdict;
        }
        if (!Extension::hasShimFunctions()) {
            return self::$verdict = ['ok' => false, 'reason' => 'extension'];
        }
        if (class_exists('Bitrix\\Pull\\ProtobufTransport', false)) {
            return self::$verdict = ['ok' => false, 'reason' => 'declared'];
        }
        return self::$verdict = self::pullApi();
    }

    /** ['ok' => bool, 'reason' => '' | 'missing:<file>' | 'api:<file>:<what>', 'version' => pull version]. */
    public static function pullApi(): array
    {
        $dir = Loader::getLocal('modules/pull');
        if ($dir === false) {
            return ['ok' => false, 'reason' => 'missing:pull', 'version' => ''];
        }
        $fp = [];
        foreach (self::FILES as $f) {
            $st = @stat("$dir/$f");
            if ($st === false) {
                return ['ok' => false, 'reason' => "missing:$f", 'version' => ''];
            }
            $fp[] = $f . ':' . $st['mtime'] . ':' . $st['size'];
        }
        $fingerprint = $dir . '|' . implode('|', $fp);
        $cached = json_decode((string)Option::getRealValue(PullOptions::MODULE_ID, 'transport_check', ''), true);
        if (is_array($cached) && ($cached['fingerprint'] ?? null) === $fingerprint) {
            return $cached;
        }
        $verdict = ['ok' => true, 'reason' => '', 'version' => (string)ModuleManager::getVersion('pull'), 'fingerprint' => $fingerprint];
        foreach (self::PATTERNS as $f => $patterns) {
            $src = (string)file_get_contents("$dir/$f");
            foreach ($patterns as $what => $re) {
                if (!preg_match($re, $src)) {
                    $verdict['ok'] = false;
                    $verdict['reason'] = "api:$f:$what";
                    break 2;
                }
            }
        }
        Option::set(PullOptions::MODULE_ID, 'transport_check', json_encode($verdict, JSON_UNESCAPED_SLASHES));
        return $verdict;
    }
}
