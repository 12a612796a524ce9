<?php
// Localization (notes §1.4): the language file of a source file is found by walking up from
// its folder to the nearest folder holding lang/, then lang/<lang>/<same relative path>;
// the fallback language (ru for ru/kz/by/uz, en otherwise) is loaded first and the requested
// one merged over it. Keys are global. getMessage returns null for an unknown code.

namespace Bitrix\Main\Localization {

    class Loc
    {
        /** [lang => [code => text]] */
        private static array $messages = [];
        /** [lang][file] => true */
        private static array $loaded = [];

        /** Kernel strings the install step pages use (main's own language files). */
        private const KERNEL = [
            'en' => [
                'MOD_INST_OK' => 'Module has been successfully installed.',
                'MOD_INST_ERR' => 'Error installing module',
                'MOD_UNINST_OK' => 'Module has been successfully uninstalled.',
                'MOD_UNINST_ERR' => 'Error uninstalling module',
                'MOD_BACK' => 'Back to list',
                'MOD_UNINST_WARN' => 'Warning! The module will be uninstalled.',
                'MOD_UNINST_SAVE' => 'You can keep the module data in the database:',
                'MOD_UNINST_SAVE_TABLES' => 'Save tables',
                'MOD_UNINST_DEL' => 'Uninstall',
            ],
            'ru' => [
                'MOD_INST_OK' => 'Модуль успешно установлен.',
                'MOD_INST_ERR' => 'Ошибка при установке модуля',
                'MOD_UNINST_OK' => 'Модуль успешно удален.',
                'MOD_UNINST_ERR' => 'Ошибка при удалении модуля',
                'MOD_BACK' => 'Вернуться в список',
                'MOD_UNINST_WARN' => 'Внимание! Модуль будет удален.',
                'MOD_UNINST_SAVE' => 'Вы можете сохранить данные модуля в базе данных:',
                'MOD_UNINST_SAVE_TABLES' => 'Сохранить таблицы',
                'MOD_UNINST_DEL' => 'Удалить',
            ],
        ];

        public static function getCurrentLang(): string
        {
            return defined('LANGUAGE_ID') ? LANGUAGE_ID : 'en';
        }

        public static function getDefaultLang(string $lang): string
        {
            return in_array($lang, ['ru', 'kz', 'by', 'ua', 'uz'], true) ? 'ru' : 'en';
        }

        /** The language file of $file for $lang, or null (the walk-up rule). */
        public static function langFile(string $file, string $lang): ?string
        {
            $file = str_replace('\\', '/', realpath($file) ?: $file);
            $dir = dirname($file);
            while ($dir !== '/' && $dir !== '.' && $dir !== '') {
                if (is_dir($dir . '/lang')) {
                    $rel = substr($file, strlen($dir) + 1);
                    $candidate = $dir . '/lang/' . $lang . '/' . $rel;
                    return is_file($candidate) ? $candidate : null;
                }
                $dir = dirname($dir);
            }
            return null;
        }

        public static function loadMessages($file): void
        {
            self::loadFor((string)$file, self::getCurrentLang());
        }

        private static function loadFor(string $file, string $lang): void
        {
            if (isset(self::$loaded[$lang][$file])) {
                return;
            }
            self::$loaded[$lang][$file] = true;
            $fallback = self::getDefaultLang($lang);
            foreach (array_unique([$fallback, $lang]) as $l) {
                $lf = self::langFile($file, $l);
                if ($lf === null) {
                    continue;
                }
                $MESS = [];
                include $lf;
                self::$messages[$lang] = $MESS + (self::$messages[$lang] ?? []);
                if ($l === $lang) {
                    // the requested language wins over the fallback
                    self::$messages[$lang] = $MESS + self::$messages[$lang];
                }
            }
        }

        public static function getMessage($code, $replace = null, $language = null): ?string
        {
            $lang = $language ?? self::getCurrentLang();
            $text = self::$messages[$lang][$code] ?? self::KERNEL[$lang][$code] ?? self::KERNEL[self::getDefaultLang($lang)][$code] ?? null;
            if ($text !== null && is_array($replace)) {
                $text = strtr($text, array_map('strval', $replace));
            }
            return $text;
        }

        /** Every message loaded for a language (tests). */
        public static function loadedMessages(string $lang): array
        {
            return self::$messages[$lang] ?? [];
        }
    }
}

namespace {

    use Bitrix\Main\Localization\Loc;

    function GetMessage($name, $aReplace = null)
    {
        global $MESS;
        if (isset($MESS[$name])) {
            $s = $MESS[$name];
            return is_array($aReplace) ? strtr($s, array_map('strval', $aReplace)) : $s;
        }
        return Loc::getMessage($name, $aReplace);
    }

    function IncludeModuleLangFile($filepath, $lang = false, $bReturnArray = false)
    {
        Loc::loadMessages($filepath);
        return $bReturnArray ? Loc::loadedMessages(Loc::getCurrentLang()) : true;
    }
}
