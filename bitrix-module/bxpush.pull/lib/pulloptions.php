<?php
// The pull module's options that install points at bxpush: what they should be, the
// snapshot of what they were (raw b_option values, null = no row), writing them and putting
// the snapshot back exactly. Kept in this module's own options:
//   pull_snapshot  JSON {name: old raw value | null}   (what uninstall restores)
//   pull_written   JSON {name: value}                  (what the health agent compares with)

namespace Bxpush\Pull;

use Bitrix\Main\Config\Option;

final class PullOptions
{
    public const MODULE_ID = 'bxpush.pull';

    /** Written once, then changed by design (the clock, the pull module's error counter): not compared later. */
    public const NOT_COMPARED = ['config_timestamp', 'nginx_error'];

    /**
     * name => value of every pull option install writes, in writing order.
     * $paths: the URL fields of the install form (InstallForm::PATH_FIELDS).
     */
    public static function target(array $paths, string $key, string $algo, bool $wasShared): array
    {
        $t = [
            'server_mode' => 'personal',
            'nginx_version' => '4',
            'enable_protobuf' => 'Y',
            'websocket' => 'Y',
        ];
        foreach (InstallForm::PATH_FIELDS as $name) {
            $t[$name] = (string)$paths[$name];
        }
        $t['signature_key'] = $key;
        $t['signature_algo'] = $algo;
        if ($wasShared) {
            $t['registered_on_shared_server'] = 'N';
        }
        $t['nginx'] = 'Y';
        $t['nginx_error'] = 'N';
        $t['config_timestamp'] = '';   // filled by ConfigSwitch::bumpTimestamp()
        return $t;
    }

    /** @return array<string, ?string> raw values now (null = no b_option row) */
    public static function snapshot(array $names): array
    {
        $out = [];
        foreach ($names as $name) {
            $out[$name] = Option::getRealValue('pull', $name, '');
        }
        return $out;
    }

    /**
     * Writes $values into b_option of pull. `nginx` goes through CPullOptions so the pull
     * module also starts its own online-check agent, as its settings page does.
     */
    public static function apply(array $values): void
    {
        foreach ($values as $name => $value) {
            if ($name === 'config_timestamp') {
                continue;
            }
            if ($name === 'nginx' && class_exists('CPullOptions')) {
                \CPullOptions::SetQueueServerStatus($value);
                if (Option::getRealValue('pull', 'nginx', '') !== $value) {
                    Option::set('pull', 'nginx', $value);
                }
                continue;
            }
            Option::set('pull', $name, $value);
        }
    }

    /** Puts every saved value back exactly: a value → that row, null → no row. */
    public static function restore(array $snapshot): void
    {
        if (array_key_exists('nginx', $snapshot) && $snapshot['nginx'] !== 'Y' && class_exists('CPullOptions')) {
            \CPullOptions::SetQueueServerStatus('N');   // stops the pull module's online-check agent again
        }
        foreach ($snapshot as $name => $value) {
            if ($value === null) {
                Option::delete('pull', ['name' => $name]);
            } else {
                Option::set('pull', $name, $value);
            }
        }
    }

    public static function saveSnapshot(array $snapshot): void
    {
        Option::set(self::MODULE_ID, 'pull_snapshot', json_encode($snapshot, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
    }

    /** @return array<string, ?string>|null null when install never saved one */
    public static function savedSnapshot(): ?array
    {
        $raw = Option::getRealValue(self::MODULE_ID, 'pull_snapshot', '');
        $v = $raw === null ? null : json_decode($raw, true);
        return is_array($v) ? $v : null;
    }

    public static function saveWritten(array $values): void
    {
        Option::set(self::MODULE_ID, 'pull_written', json_encode($values, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
    }

    public static function written(): array
    {
        $v = json_decode((string)Option::getRealValue(self::MODULE_ID, 'pull_written', ''), true);
        return is_array($v) ? $v : [];
    }

    /**
     * Per-site rows (b_option_site) of these pull options: on that site they win over what
     * install wrote (notes §3.1, §6.3.8). Returns ["s2: path_to_publish", …].
     */
    public static function siteOverrides(array $names): array
    {
        $out = [];
        $sites = \Bitrix\Main\SiteTable::getList(['select' => ['LID']]);
        while ($site = $sites->fetch()) {
            foreach ($names as $name) {
                if (!in_array($name, self::NOT_COMPARED, true) && Option::getRealValue('pull', $name, $site['LID']) !== null) {
                    $out[] = $site['LID'] . ': ' . $name;
                }
            }
        }
        return $out;
    }

    /** Names of the written options whose value is no longer what install wrote. */
    public static function drift(): array
    {
        $out = [];
        foreach (self::written() as $name => $value) {
            if (in_array($name, self::NOT_COMPARED, true)) {
                continue;
            }
            if (Option::getRealValue('pull', $name, '') !== (string)$value) {
                $out[] = $name;
            }
        }
        return $out;
    }
}
