<?php
// Options with b_option / b_option_site semantics (notes §3): site-aware get, getRealValue
// (null = no row), defaults from the module's default_option.php, set fires OnAfterSetOption.

namespace Bitrix\Main\Config {

    use BxStandin\Db;

    class Option
    {
        public static function get($moduleId, $name, $default = '', $siteId = false)
        {
            [$m, $n] = self::key($moduleId, $name);
            $site = $siteId === false ? (defined('SITE_ID') ? SITE_ID : '') : (string)$siteId;
            $sites = Db::table('b_option_site');
            if ($site !== '' && isset($sites[$m][$site][$n])) {
                return $sites[$m][$site][$n];
            }
            $rows = Db::table('b_option');
            if (isset($rows[$m][$n])) {
                return $rows[$m][$n];
            }
            if ($default == '') {
                $defaults = self::getDefaults($m);
                if (isset($defaults[$n])) {
                    return (string)$defaults[$n];
                }
            }
            return $default;
        }

        /** The raw b_option (or b_option_site) value, null when there is no row. */
        public static function getRealValue($moduleId, $name, $siteId = false): ?string
        {
            [$m, $n] = self::key($moduleId, $name);
            $site = $siteId === false ? (defined('SITE_ID') ? SITE_ID : '') : (string)$siteId;
            if ($site !== '') {
                return Db::table('b_option_site')[$m][$site][$n] ?? null;
            }
            $v = Db::table('b_option')[$m][$n] ?? null;
            return $v === null ? null : (string)$v;
        }

        /** module => defaults (the kernel caches them too) */
        private static array $defaults = [];

        public static function getDefaults($moduleId): array
        {
            $m = strtolower((string)$moduleId);
            return self::$defaults[$m] ??= self::readDefaults($m);
        }

        private static function readDefaults(string $m): array
        {
            $file = \Bitrix\Main\Loader::getLocal('modules/' . $m . '/default_option.php');
            if ($file === false) {
                return [];
            }
            $var = str_replace('.', '_', $m) . '_default_option';
            $$var = [];
            include $file;
            return is_array($$var) ? $$var : [];
        }

        public static function getForModule($moduleId, $siteId = false): array
        {
            $m = strtolower((string)$moduleId);
            $out = Db::table('b_option')[$m] ?? [];
            $site = $siteId === false ? (defined('SITE_ID') ? SITE_ID : '') : (string)$siteId;
            if ($site !== '') {
                $out = (Db::table('b_option_site')[$m][$site] ?? []) + $out;
            }
            return array_map('strval', $out);
        }

        public static function set($moduleId, $name, $value = '', $siteId = ''): void
        {
            [$m, $n] = self::key($moduleId, $name);
            $site = $siteId === false ? (defined('SITE_ID') ? SITE_ID : '') : (string)$siteId;
            $value = (string)$value;
            Db::mutate(function (array &$t) use ($m, $n, $site, $value) {
                if ($site === '') {
                    $t['b_option'][$m][$n] = $value;
                } else {
                    $t['b_option_site'][$m][$site][$n] = $value;
                }
            });
            (new \Bitrix\Main\Event('main', 'OnAfterSetOption_' . $n, ['value' => $value]))->send();
            (new \Bitrix\Main\Event('main', 'OnAfterSetOption', ['moduleId' => $m, 'name' => $n, 'value' => $value, 'siteId' => $site]))->send();
        }

        /** filter keys: 'name', 'site_id' (as the real one; no filter = every option of the module). */
        public static function delete($moduleId, array $filter = []): void
        {
            $m = strtolower((string)$moduleId);
            if ($m === '') {
                throw new \Bitrix\Main\ArgumentNullException('moduleId');
            }
            $name = isset($filter['name']) ? strtolower((string)$filter['name']) : null;
            $site = $filter['site_id'] ?? null;
            Db::mutate(function (array &$t) use ($m, $name, $site) {
                if ($site === null) {
                    foreach ($t['b_option'][$m] ?? [] as $n => $_) {
                        if (($name === null && $n !== '~bsm_stop_date') || $n === $name) {
                            unset($t['b_option'][$m][$n]);
                        }
                    }
                }
                foreach ($t['b_option_site'][$m] ?? [] as $s => $rows) {
                    if ($site !== null && $s !== $site) {
                        continue;
                    }
                    foreach ($rows as $n => $_) {
                        if ($name === null || $n === $name) {
                            unset($t['b_option_site'][$m][$s][$n]);
                        }
                    }
                }
            });
        }

        private static function key($moduleId, $name): array
        {
            $m = strtolower((string)$moduleId);
            $n = strtolower((string)$name);
            if ($m === '') {
                throw new \Bitrix\Main\ArgumentNullException('moduleId');
            }
            if ($n === '') {
                throw new \Bitrix\Main\ArgumentNullException('name');
            }
            return [$m, $n];
        }
    }

    /** Site-wide .settings.php (bitrix/.settings.php in the document root) and module .settings.php. */
    class Configuration
    {
        private array $data;

        private function __construct(array $data)
        {
            $this->data = $data;
        }

        public static function getValue($name)
        {
            return self::getInstance()->get($name);
        }

        private static array $instances = [];

        public static function getInstance(?string $moduleId = null): self
        {
            return self::$instances[$moduleId ?? ''] ??= self::load($moduleId);
        }

        private static function load(?string $moduleId): self
        {
            $root = \Bitrix\Main\Application::getDocumentRoot();
            $file = null;
            if ($moduleId === null) {
                foreach (['/local/.settings.php', '/bitrix/.settings.php'] as $p) {
                    if (is_file($root . $p)) {
                        $file = $root . $p;
                        break;
                    }
                }
            } elseif (\Bitrix\Main\ModuleManager::isModuleInstalled($moduleId)) {
                $f = \Bitrix\Main\Loader::getLocal('modules/' . $moduleId . '/.settings.php');
                $file = $f === false ? null : $f;
            }
            $raw = $file ? include $file : [];
            $data = [];
            foreach (is_array($raw) ? $raw : [] as $k => $v) {
                $data[$k] = is_array($v) && array_key_exists('value', $v) ? $v['value'] : $v;
            }
            return new self($data);
        }

        public function get($name)
        {
            return $this->data[$name] ?? null;
        }
    }
}

namespace {

    use Bitrix\Main\Config\Option;

    class COption
    {
        public static function GetOptionString($module_id, $name, $def = '', $site = false, $bExactSite = false)
        {
            if ($bExactSite) {
                $v = Option::getRealValue($module_id, $name, $site);
                return $v === null ? false : $v;
            }
            return Option::get($module_id, $name, $def, $site);
        }

        public static function SetOptionString($module_id, $name, $value = '', $desc = false, $site = '')
        {
            Option::set($module_id, $name, $value, $site);
            return true;
        }

        public static function GetOptionInt($module_id, $name, $def = '', $site = false)
        {
            return (int)Option::get($module_id, $name, $def, $site);
        }

        public static function SetOptionInt($module_id, $name, $value = '', $desc = '', $site = '')
        {
            Option::set($module_id, $name, (int)$value, $site);
            return true;
        }

        public static function RemoveOption($module_id, $name = '', $site = false)
        {
            $filter = [];
            if ($name !== '') {
                $filter['name'] = $name;
            }
            if ($site !== false) {
                $filter['site_id'] = $site;
            }
            Option::delete($module_id, $filter);
        }
    }
}
