<?php
// Modules: Loader (includeModule, PSR-4-like lib/ autoload with the lower-case-first rule,
// registerAutoLoadClasses), ModuleManager (b_module), CModule and the old global wrappers.

namespace Bitrix\Main {

    use BxStandin\Db;

    class Loader
    {
        private static array $included = [];
        /** lower-cased namespace prefix => list of lib dirs */
        private static array $namespaces = [];
        /** lower-cased class => file */
        private static array $classes = [];
        private static bool $registered = false;

        public static function register(): void
        {
            if (!self::$registered) {
                spl_autoload_register([self::class, 'autoLoad'], true, true);
                self::$registered = true;
            }
        }

        public static function includeModule($moduleName): bool
        {
            $m = strtolower(trim((string)$moduleName));
            if (isset(self::$included[$m])) {
                return self::$included[$m];
            }
            if (!ModuleManager::isValidModule($m) || !ModuleManager::isModuleInstalled($m)) {
                return false;
            }
            $dir = self::getLocal('modules/' . $m);
            if ($dir === false) {
                return self::$included[$m] = false;
            }
            $ns = str_contains($m, '.')
                ? str_replace('.', '\\', ucwords($m, '.'))
                : 'Bitrix\\' . ucfirst($m);
            self::registerNamespace($ns, $dir . '/lib');
            self::$included[$m] = true;   // set first: include.php may include other modules
            if (is_file($dir . '/include.php')) {
                $r = include_once $dir . '/include.php';
                if ($r === false) {
                    return self::$included[$m] = false;
                }
            }
            return true;
        }

        public static function requireModule($moduleName): bool
        {
            if (!self::includeModule($moduleName)) {
                throw new LoaderException("Module '$moduleName' is not installed.");
            }
            return true;
        }

        /** Forget what was included (a test that uninstalls then reinstalls in one process). */
        public static function resetIncluded(string $moduleName): void
        {
            unset(self::$included[strtolower($moduleName)]);
        }

        public static function registerNamespace($namespace, $path): void
        {
            $key = strtolower(trim((string)$namespace, '\\')) . '\\';
            $path = rtrim((string)$path, '/');
            if (!in_array($path, self::$namespaces[$key] ?? [], true)) {
                self::$namespaces[$key][] = $path;
            }
        }

        public static function registerAutoLoadClasses($moduleName, array $classes): void
        {
            $base = '';
            if ($moduleName !== null && $moduleName !== '') {
                $dir = self::getLocal('modules/' . strtolower($moduleName));
                if ($dir === false) {
                    throw new LoaderException("Module '$moduleName' is not found.");
                }
                $base = $dir . '/';
            } else {
                $base = Application::getDocumentRoot();
            }
            foreach ($classes as $class => $file) {
                self::$classes[strtolower(ltrim($class, '\\'))] = $base . ltrim($file, '/');
            }
        }

        public static function autoLoad($className): void
        {
            $lc = strtolower(ltrim($className, '\\'));
            if (isset(self::$classes[$lc])) {
                require_once self::$classes[$lc];
                return;
            }
            if (preg_match('/[^\\\\a-zA-Z0-9_]/', $className)) {
                return;
            }
            foreach (self::$namespaces as $prefix => $dirs) {
                if (!str_starts_with($lc, $prefix)) {
                    continue;
                }
                $rest = substr(ltrim($className, '\\'), strlen($prefix));
                $parts = str_replace('\\', '/', $rest);
                $tries = [strtolower($parts), $parts];
                if (str_ends_with($lc, 'table')) {
                    $tries[] = strtolower(substr($parts, 0, -5));
                }
                foreach ($dirs as $dir) {
                    foreach ($tries as $t) {
                        if (is_file("$dir/$t.php")) {
                            require_once "$dir/$t.php";
                            return;
                        }
                    }
                }
            }
        }

        /** /local/<path> if it exists, else /bitrix/<path>, else false. */
        public static function getLocal($path, $root = null)
        {
            $root ??= Application::getDocumentRoot();
            $path = ltrim((string)$path, '/');
            foreach (['/local/', '/bitrix/'] as $base) {
                if (file_exists($root . $base . $path)) {
                    return $root . $base . $path;
                }
            }
            return false;
        }

        public static function getDocumentRoot(): string
        {
            return Application::getDocumentRoot();
        }
    }

    class ModuleManager
    {
        public static function isValidModule(string $moduleName): bool
        {
            return $moduleName !== '' && preg_match('/^[a-zA-Z0-9_.]+$/', $moduleName) === 1;
        }

        public static function isModuleInstalled($moduleName): bool
        {
            $m = strtolower((string)$moduleName);
            return $m === 'main' || isset(Db::table('b_module')[$m]);
        }

        public static function getInstalledModules(): array
        {
            $out = ['main' => ['ID' => 'main']];
            foreach (Db::table('b_module') as $id => $_) {
                $out[$id] = ['ID' => $id];
            }
            return $out;
        }

        /** VERSION from the module's install/version.php, false when missing. */
        public static function getVersion($moduleName)
        {
            $file = Loader::getLocal('modules/' . strtolower((string)$moduleName) . '/install/version.php');
            if ($file === false) {
                return false;
            }
            $arModuleVersion = [];
            include $file;
            return $arModuleVersion['VERSION'] ?? false;
        }

        public static function registerModule($moduleName): void
        {
            $m = strtolower((string)$moduleName);
            Db::mutate(function (array &$t) use ($m) {
                $t['b_module'][$m] = ['ID' => $m, 'DATE_ACTIVE' => date('c')];
                foreach ($t['b_agent'] ?? [] as $id => $a) {
                    if ($a['MODULE_ID'] === $m) {
                        $t['b_agent'][$id]['ACTIVE'] = 'Y';
                    }
                }
            });
            (new Event('main', 'OnAfterRegisterModule', [$m]))->send();
        }

        public static function unRegisterModule($moduleName): void
        {
            $m = strtolower((string)$moduleName);
            \CAgent::RemoveModuleAgents($m);
            Db::mutate(function (array &$t) use ($m) {
                unset($t['b_module'][$m]);
            });
            Loader::resetIncluded($m);
            (new Event('main', 'OnAfterUnRegisterModule', [$m]))->send();
        }
    }
}

namespace {

    use Bitrix\Main\Loader;
    use Bitrix\Main\ModuleManager;

    class CModule
    {
        public $MODULE_NAME;
        public $MODULE_DESCRIPTION;
        public $MODULE_VERSION;
        public $MODULE_VERSION_DATE;
        public $MODULE_ID;
        public $MODULE_SORT = 10000;
        public $SHOW_SUPER_ADMIN_GROUP_RIGHTS;
        public $MODULE_GROUP_RIGHTS;
        public $PARTNER_NAME;
        public $PARTNER_URI;

        public function InstallDB()
        {
            return false;
        }

        public function UnInstallDB()
        {
        }

        public function InstallEvents()
        {
        }

        public function UnInstallEvents()
        {
        }

        public function InstallFiles()
        {
        }

        public function UnInstallFiles()
        {
        }

        public function DoInstall()
        {
        }

        public function DoUninstall()
        {
        }

        public function IsInstalled()
        {
            return ModuleManager::isModuleInstalled($this->MODULE_ID);
        }

        public static function IncludeModule($module_name)
        {
            return Loader::includeModule($module_name);
        }

        public static function IncludeModuleEx($module_name)
        {
            return Loader::includeModule($module_name) ? 1 : 0;
        }

        /** include_once modules/<id>/install/index.php, then the class named id with dots as _. */
        public static function CreateModuleObject($moduleName)
        {
            $moduleName = str_replace(['/', '\\'], '', (string)$moduleName);
            $file = Loader::getLocal('modules/' . $moduleName . '/install/index.php');
            if ($file === false) {
                return false;
            }
            include_once $file;
            $class = str_replace('.', '_', $moduleName);
            if (!class_exists($class, false)) {
                return false;
            }
            return new $class();
        }

        public static function AddAutoloadClasses($module, $arParams = [])
        {
            Loader::registerAutoLoadClasses($module === '' ? null : $module, $arParams);
            return true;
        }
    }

    function RegisterModule($id)
    {
        ModuleManager::registerModule($id);
    }

    function UnRegisterModule($id)
    {
        ModuleManager::unRegisterModule($id);
    }

    function IsModuleInstalled($module_id)
    {
        return ModuleManager::isModuleInstalled($module_id);
    }

    function getLocalPath($path, $baseFolder = '/bitrix')
    {
        $root = \Bitrix\Main\Application::getDocumentRoot();
        $path = ltrim($path, '/');
        if (file_exists($root . '/local/' . $path)) {
            return '/local/' . $path;
        }
        if (file_exists($root . $baseFolder . '/' . $path)) {
            return $baseFolder . '/' . $path;
        }
        return false;
    }
}
