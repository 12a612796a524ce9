<?php
// What the bxpush PHP extension in this process says: loaded with the functions the shim
// needs, and its settings (the key is only ever compared, never shown or logged).

namespace Bxpush\Pull;

final class Extension
{
    /** The functions the transport shim calls. */
    public const SHIM_FUNCTIONS = ['BxPush\\send_pull_messages', 'BxPush\\encode_pull_batches', 'BxPush\\channel_stats'];

    public static function loaded(): bool
    {
        return extension_loaded('bxpush');
    }

    /** Loaded and new enough for the shim (the pull-message functions exist). */
    public static function hasShimFunctions(): bool
    {
        foreach (self::SHIM_FUNCTIONS as $f) {
            if (!function_exists($f)) {
                return false;
            }
        }
        return true;
    }

    public static function signatureKey(): string
    {
        return self::loaded() ? (string)ini_get('bxpush.signature_key') : '';
    }

    public static function signatureAlgo(): string
    {
        $a = self::loaded() ? (string)ini_get('bxpush.signature_algo') : '';
        return $a === '' ? 'sha1' : $a;
    }

    /** Where the workers hand events over (bxpush serve --listen-php). */
    public static function server(): string
    {
        return self::loaded() ? (string)ini_get('bxpush.server') : '';
    }

    public static function spoolDir(): string
    {
        return self::loaded() ? (string)ini_get('bxpush.spool_dir') : '';
    }

    /** The owner's /server-stat/ through the extension; throws \BxPush\Exception when it does not answer. */
    public static function serverStats(): array
    {
        return \BxPush\Server::stats();
    }
}
