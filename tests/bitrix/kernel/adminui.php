<?php
// Stand-in admin UI (loaded by bootstrap.php like every kernel/*.php): CAdminTabControl,
// CoreJS extensions (CJSCore, Bitrix\Main\UI\Extension) and a minimal admin prolog/epilog
// that prints a whole HTML page, so an options.php can be rendered and opened in a browser.
// Class names and signatures follow bitrix-module-notes.md §5.2 and §8; the markup only
// borrows the admin panel's class names, enough for a readable page and a screenshot.

namespace {

    if (!class_exists('CAdminTabControl', false)) {
        class CAdminTabControl
        {
            public $name;
            public $tabs;
            public $selectedTab;
            private int $tabIndex = -1;
            private bool $tabOpen = false;

            public function __construct($name, $tabs, $bCanExpand = true, $bDenyAutoSave = false)
            {
                $this->name = (string)$name;
                $this->tabs = array_values((array)$tabs);
                $requested = $_REQUEST[$this->name . '_active_tab'] ?? '';
                $this->selectedTab = $this->tabs[0]['DIV'] ?? '';
                foreach ($this->tabs as $t) {
                    if (($t['DIV'] ?? '') === $requested) {
                        $this->selectedTab = $requested;
                    }
                }
            }

            public function Begin()
            {
                $id = htmlspecialcharsbx($this->name);
                echo '<div class="adm-detail-block" id="' . $id . '_layout">';
                echo '<div class="adm-detail-tabs-block" role="tablist">';
                foreach ($this->tabs as $t) {
                    $div = htmlspecialcharsbx($t['DIV']);
                    $active = $t['DIV'] === $this->selectedTab;
                    echo '<span class="adm-detail-tab' . ($active ? ' adm-detail-tab-active' : '') . '" role="tab"'
                        . ' id="tab_cont_' . $div . '" data-tab="' . $div . '">' . htmlspecialcharsbx($t['TAB'] ?? '') . '</span>';
                }
                echo '</div><div class="adm-detail-content-wrap">';
                echo '<input type="hidden" name="' . $id . '_active_tab" id="' . $id . '_active_tab" value="'
                    . htmlspecialcharsbx($this->selectedTab) . '">';
            }

            public function BeginNextTab($options = [])
            {
                $this->closeTab();
                $this->tabIndex++;
                $t = $this->tabs[$this->tabIndex] ?? null;
                if ($t === null) {
                    return;
                }
                $div = htmlspecialcharsbx($t['DIV']);
                $hidden = $t['DIV'] === $this->selectedTab ? '' : ' style="display:none"';
                echo '<div class="adm-detail-content" id="' . $div . '"' . $hidden . '>';
                if (($t['TITLE'] ?? '') !== '') {
                    echo '<div class="adm-detail-title">' . htmlspecialcharsbx($t['TITLE']) . '</div>';
                }
                echo '<div class="adm-detail-content-item-block"><table class="adm-detail-content-table edit-table" id="' . $div . '_edit_table">';
                $this->tabOpen = true;
            }

            public function EndTab()
            {
                $this->closeTab();
            }

            public function Buttons($aParams = false)
            {
                $this->closeTab();
                echo '<div class="adm-detail-content-btns">';
                if (is_array($aParams)) {
                    $dis = !empty($aParams['disabled']) ? ' disabled' : '';
                    if (($aParams['btnSave'] ?? true) !== false) {
                        echo '<input type="submit" name="save" value="Save" class="adm-btn-save"' . $dis . '> ';
                    }
                    if (($aParams['btnApply'] ?? true) !== false) {
                        echo '<input type="submit" name="apply" value="Apply"' . $dis . '> ';
                    }
                }
                $this->buttonsOpen = true;
            }

            private bool $buttonsOpen = false;

            public function End()
            {
                $this->closeTab();
                if ($this->buttonsOpen) {
                    echo '</div>';
                }
                echo '</div></div>';
                $name = json_encode($this->name);
                // Tab switching: the only script of the stand-in admin UI.
                echo "<script>(function(){var n=$name,root=document.getElementById(n+'_layout');"
                    . "if(!root)return;root.querySelectorAll('.adm-detail-tab').forEach(function(tab){tab.addEventListener('click',function(){"
                    . "root.querySelectorAll('.adm-detail-tab').forEach(function(t){var on=t===tab;t.classList.toggle('adm-detail-tab-active',on);"
                    . "var c=document.getElementById(t.getAttribute('data-tab'));if(c)c.style.display=on?'':'none';});"
                    . "document.getElementById(n+'_active_tab').value=tab.getAttribute('data-tab');});});})();</script>";
            }

            public function GetSelectedTab()
            {
                return $this->selectedTab;
            }

            public function ActiveTabParam()
            {
                return $this->name . '_active_tab=' . urlencode((string)($_REQUEST[$this->name . '_active_tab'] ?? $this->selectedTab));
            }

            public function ShowWarnings($form, $messages, $aFields = false)
            {
            }

            private function closeTab(): void
            {
                if ($this->tabOpen) {
                    echo '</table></div></div>';
                    $this->tabOpen = false;
                }
            }
        }
    }

    if (!function_exists('BeginNote')) {
        function BeginNote($sParams = '', $sMessParams = '')
        {
            echo '<div class="adm-info-message-wrap"><div class="adm-info-message">';
        }

        function EndNote()
        {
            echo '</div></div>';
        }
    }

    if (!class_exists('CJSCore', false)) {
        /**
         * CoreJS extensions: `a.b.c` → /local|bitrix/js/a/b/c/config.php (relative `js`/`css`
         * paths are relative to that folder), or what RegisterExt registered. `rel` is loaded
         * first; `lang_additional` becomes BX.message keys. Assets are collected for the page
         * (BxStandin\AdminPage prints them), or returned as tags with $bReturn.
         */
        class CJSCore
        {
            private static array $registered = [];
            private static array $loaded = [];
            private static array $assets = ['css' => [], 'js' => []];
            private static array $messages = [];

            public static function RegisterExt($name, $arPaths)
            {
                self::$registered[strtolower((string)$name)] = (array)$arPaths;
            }

            public static function Init($arExt = [], $bReturn = false)
            {
                $before = self::$assets;
                foreach ((array)$arExt as $ext) {
                    self::load(strtolower((string)$ext));
                }
                if (!$bReturn) {
                    return true;
                }
                $html = '';
                foreach (array_diff(self::$assets['css'], $before['css']) as $u) {
                    $html .= '<link href="' . htmlspecialcharsbx($u) . '" type="text/css" rel="stylesheet">' . "\n";
                }
                foreach (array_diff(self::$assets['js'], $before['js']) as $u) {
                    $html .= '<script src="' . htmlspecialcharsbx($u) . '"></script>' . "\n";
                }
                return $html;
            }

            public static function IsExtRegistered($name)
            {
                return self::config(strtolower((string)$name)) !== null;
            }

            /** @return array{css: string[], js: string[]} URLs, in load order */
            public static function standinAssets(): array
            {
                return self::$assets;
            }

            /** BX.message keys added by the loaded extensions. */
            public static function standinMessages(): array
            {
                return self::$messages;
            }

            private static function load(string $name): void
            {
                if ($name === '' || isset(self::$loaded[$name])) {
                    return;
                }
                self::$loaded[$name] = true;
                $cfg = self::config($name);
                if ($cfg === null) {
                    return;
                }
                [$conf, $base] = $cfg;
                foreach ((array)($conf['rel'] ?? []) as $rel) {
                    self::load(strtolower((string)$rel));
                }
                foreach (['css', 'js'] as $kind) {
                    foreach ((array)($conf[$kind] ?? []) as $path) {
                        $path = (string)$path;
                        $url = $path !== '' && $path[0] === '/' ? $path : $base . '/' . ltrim($path, './');
                        if ($path !== '' && !in_array($url, self::$assets[$kind], true)) {
                            self::$assets[$kind][] = $url;
                        }
                    }
                }
                if (isset($conf['lang_additional']) && is_array($conf['lang_additional'])) {
                    self::$messages = $conf['lang_additional'] + self::$messages;
                }
            }

            /** @return array{0: array, 1: string}|null the config and the URL of its folder */
            private static function config(string $name): ?array
            {
                if (isset(self::$registered[$name])) {
                    return [self::$registered[$name], ''];
                }
                $parts = explode('.', $name);
                if (count($parts) < 2 || preg_match('/[^a-z0-9_.\-]/', $name)) {
                    return null;
                }
                $rel = 'js/' . implode('/', $parts) . '/config.php';
                $file = \Bitrix\Main\Loader::getLocal($rel);
                if ($file === false) {
                    return null;
                }
                $conf = (function ($__file) {
                    return include $__file;
                })($file);
                if (!is_array($conf)) {
                    return null;
                }
                $root = rtrim((string)$_SERVER['DOCUMENT_ROOT'], '/');
                $base = substr(dirname($file), strlen($root));
                return [$conf, $base];
            }
        }
    }
}

namespace Bitrix\Main\UI {

    if (!class_exists('Bitrix\\Main\\UI\\Extension', false)) {
        class Extension
        {
            public static function load($extNames): void
            {
                \CJSCore::Init((array)$extNames);
            }

            public static function getHtml($extName): string
            {
                return (string)\CJSCore::Init((array)$extName, true);
            }
        }
    }
}

namespace BxStandin {

    /**
     * The admin page around a module page: what prolog_admin_after.php and epilog_admin.php
     * print on a real site, reduced to a valid HTML document with the page title, the
     * assets of the CoreJS extensions loaded while the page body was built, and BX.message
     * (USER_ID, SITE_ID, LANGUAGE_ID, bitrix_sessid plus the extensions' keys).
     */
    final class AdminPage
    {
        public static function render(string $title, string $body): string
        {
            global $USER;
            $assets = \CJSCore::standinAssets();
            $messages = [
                'USER_ID' => is_object($USER) ? (string)$USER->GetID() : '0',
                'SITE_ID' => defined('SITE_ID') ? SITE_ID : 's1',
                'LANGUAGE_ID' => defined('LANGUAGE_ID') ? LANGUAGE_ID : 'en',
                'bitrix_sessid' => bitrix_sessid(),
            ] + \CJSCore::standinMessages();
            $h = fn ($s) => htmlspecialcharsbx((string)$s);
            $out = "<!DOCTYPE html>\n<html lang=\"" . $h(defined('LANGUAGE_ID') ? LANGUAGE_ID : 'en') . "\"><head>\n"
                . "<meta charset=\"UTF-8\">\n<link rel=\"icon\" href=\"data:,\">\n<title>" . $h($title) . "</title>\n"
                . '<style>' . self::css() . "</style>\n";
            foreach ($assets['css'] as $u) {
                $out .= '<link href="' . $h($u) . '" type="text/css" rel="stylesheet">' . "\n";
            }
            // BX.message as main.core defines it: BX.message(key) reads, BX.message({…}) adds.
            $out .= '<script>(function(){var BX=window.BX=window.BX||{};var m={};'
                . 'BX.message=function(k){if(typeof k==="object"&&k){for(var i in k){m[i]=k[i];}return true;}return m[k];};'
                . 'BX.message(' . json_encode($messages, JSON_HEX_TAG | JSON_HEX_AMP | JSON_UNESCAPED_UNICODE) . ');})();</script>' . "\n";
            foreach ($assets['js'] as $u) {
                $out .= '<script src="' . $h($u) . '"></script>' . "\n";
            }
            $out .= "</head><body class=\"adm-workarea\">\n<h1 class=\"adm-title\">" . $h($title) . "</h1>\n"
                . $body . "\n</body></html>\n";
            return $out;
        }

        private static function css(): string
        {
            return 'body{font:13px/1.45 "Helvetica Neue",Arial,sans-serif;color:#333;background:#eef2f4;margin:0;padding:16px 24px}'
                . '.adm-title{font-size:22px;font-weight:normal;margin:0 0 14px}'
                . '.adm-detail-tabs-block{display:flex;gap:2px}'
                . '.adm-detail-tab{padding:8px 16px;background:#dfe5e8;border-radius:4px 4px 0 0;cursor:pointer}'
                . '.adm-detail-tab-active{background:#fff;font-weight:bold}'
                . '.adm-detail-content-wrap{background:#fff;border-radius:0 4px 4px 4px;padding:12px 16px 16px}'
                . '.adm-detail-title{font-size:15px;font-weight:bold;margin:4px 0 12px}'
                . '.adm-detail-content-table{width:100%;border-collapse:collapse}'
                . '.adm-detail-content-table td{padding:6px 8px;vertical-align:top}'
                . '.adm-detail-content-cell-l{text-align:right;color:#555}'
                . '.adm-detail-content-table tr.heading td{background:#e0e8ea;font-weight:bold;text-align:center;padding:6px}'
                . '.adm-detail-content-btns{border-top:1px solid #dce4e6;margin-top:12px;padding-top:12px}'
                . '.adm-info-message-wrap{margin:0 0 12px}.adm-info-message{background:#fff;border-left:4px solid #b3261e;padding:8px 12px}'
                . '.adm-info-message-ok .adm-info-message{border-left-color:#1e7d32}.adm-info-message-title{font-weight:bold}';
        }
    }
}
