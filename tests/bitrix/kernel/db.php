<?php
// The stand-in's "database": the kernel tables the module touches (b_option, b_option_site,
// b_module, b_module_to_module, b_agent, b_admin_notify, b_pull_channel, b_pull_watch) kept
// as arrays in one JSON file under the document root, so several PHP processes (a test, a
// `php -S` page, a CLI agent run) see the same site. Every write re-reads the file under an
// exclusive lock, applies the change and writes it back: no lost update between processes.

namespace BxStandin;

final class Db
{
    private static ?string $file = null;
    private static array $t = [];

    public static function open(string $documentRoot): void
    {
        $dir = rtrim($documentRoot, '/') . '/bitrix/.standin';
        if (!is_dir($dir) && !@mkdir($dir, 0777, true) && !is_dir($dir)) {
            throw new \RuntimeException("stand-in kernel: cannot create $dir");
        }
        self::$file = $dir . '/db.json';
        self::reload();
    }

    public static function file(): string
    {
        if (self::$file === null) {
            throw new \LogicException('stand-in kernel: Db::open() was not called (require bootstrap.php first)');
        }
        return self::$file;
    }

    /** Re-read every table (another process may have written). */
    public static function reload(): void
    {
        $fh = fopen(self::file(), 'c+');
        flock($fh, LOCK_SH);
        $raw = stream_get_contents($fh);
        flock($fh, LOCK_UN);
        fclose($fh);
        self::$t = $raw === '' ? [] : json_decode($raw, true, 512, JSON_THROW_ON_ERROR);
    }

    /** A whole table (read-only copy). */
    public static function table(string $name): array
    {
        return self::$t[$name] ?? [];
    }

    /**
     * Change tables under the file lock: $fn receives the tables by reference, after a fresh
     * read; what it returns is returned.
     */
    public static function mutate(callable $fn): mixed
    {
        $fh = fopen(self::file(), 'c+');
        flock($fh, LOCK_EX);
        $raw = stream_get_contents($fh);
        $t = $raw === '' ? [] : json_decode($raw, true, 512, JSON_THROW_ON_ERROR);
        $ret = $fn($t);
        ftruncate($fh, 0);
        rewind($fh);
        fwrite($fh, json_encode($t, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR));
        fflush($fh);
        flock($fh, LOCK_UN);
        fclose($fh);
        self::$t = $t;
        return $ret;
    }

    /** Next value of an auto-increment counter kept in table "_seq". */
    public static function nextId(array &$t, string $table): int
    {
        $t['_seq'][$table] = ($t['_seq'][$table] ?? 0) + 1;
        return $t['_seq'][$table];
    }
}
