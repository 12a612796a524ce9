<?php
// The module's admin notices, one tag per problem, so fixing a problem removes exactly its
// notice. Texts come from the language files and never contain the signature key.

namespace Bxpush\Pull;

final class Notices
{
    public const RUNTIME = 'BXPUSH_PULL_RUNTIME';
    public const OPTIONS = 'BXPUSH_PULL_OPTIONS';
    public const KEY = 'BXPUSH_PULL_KEY';
    public const TRANSPORT = 'BXPUSH_PULL_TRANSPORT';
    public const HTTP_ONLY = 'BXPUSH_PULL_HTTP_ONLY';
    public const EXTENSION = 'BXPUSH_PULL_EXTENSION';
    public const SITE_OPTIONS = 'BXPUSH_PULL_SITE_OPTIONS';

    public const ALL = [self::RUNTIME, self::OPTIONS, self::KEY, self::TRANSPORT, self::HTTP_ONLY, self::EXTENSION, self::SITE_OPTIONS];

    public static function set(string $tag, string $message): void
    {
        \CAdminNotify::Add([
            'MESSAGE' => $message,
            'TAG' => $tag,
            'MODULE_ID' => PullOptions::MODULE_ID,
            'ENABLE_CLOSE' => 'Y',
            'NOTIFY_TYPE' => $tag === self::HTTP_ONLY ? \CAdminNotify::TYPE_NORMAL : \CAdminNotify::TYPE_ERROR,
        ]);
    }

    public static function clear(string $tag): void
    {
        \CAdminNotify::DeleteByTag($tag);
    }

    /** Makes the notices exactly $problems (tag => message) among $tags. */
    public static function sync(array $problems, array $tags = self::ALL): void
    {
        foreach ($tags as $tag) {
            isset($problems[$tag]) ? self::set($tag, $problems[$tag]) : self::clear($tag);
        }
    }

    public static function clearAll(): void
    {
        foreach (self::ALL as $tag) {
            self::clear($tag);
        }
    }
}
