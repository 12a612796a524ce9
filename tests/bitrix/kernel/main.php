<?php
// CMain ($APPLICATION) with ThrowException/GetException and IncludeAdminFile "record and
// throw" (the real one dies), LocalRedirect (throws), CUser ($USER), application
// exceptions, session token helpers, file helpers, CAdminMessage.

namespace BxStandin {

    /** Thrown where the real kernel ends the request after IncludeAdminFile(). */
    class IncludeAdminFileCalled extends \RuntimeException
    {
        public function __construct(public string $title, public string $path, public string $output)
        {
            parent::__construct("IncludeAdminFile($title, $path)");
        }
    }

    /** Thrown where the real kernel ends the request with a redirect. */
    class LocalRedirectCalled extends \RuntimeException
    {
        public function __construct(public string $url, public string $status)
        {
            parent::__construct("LocalRedirect($url)");
        }
    }
}

namespace {

    use Bitrix\Main\Config\Option;

    class CApplicationException
    {
        public $msg;
        public $id;

        public function __construct($msg, $id = false)
        {
            $this->msg = $msg;
            $this->id = $id;
        }

        public function GetString()
        {
            return $this->msg;
        }

        public function GetID()
        {
            return $this->id;
        }

        public function __toString()
        {
            return (string)$this->msg;
        }
    }

    class CAdminException extends CApplicationException
    {
        public $messages;

        public function __construct($messages, $id = false)
        {
            $this->messages = $messages;
            $s = '';
            foreach ($messages as $m) {
                $s .= $m['text'] . "<br>";
            }
            parent::__construct($s, $id);
        }

        public function GetMessages()
        {
            return $this->messages;
        }
    }

    class CMain
    {
        public $LAST_ERROR = false;
        private $title = '';
        /** every IncludeAdminFile call of this hit: [['title' =>, 'path' =>, 'output' =>], ...] */
        public array $adminFiles = [];

        public function ThrowException($msg, $id = false)
        {
            $this->LAST_ERROR = is_object($msg) ? $msg : new CApplicationException($msg, $id);
        }

        public function GetException()
        {
            return $this->LAST_ERROR;
        }

        public function ResetException()
        {
            $this->LAST_ERROR = false;
        }

        /** Includes the page as the real one does (with the kernel globals), then throws. */
        public function IncludeAdminFile($strTitle, $filepath)
        {
            global $APPLICATION, $USER, $DB, $MESS;
            $this->SetTitle($strTitle);
            ob_start();
            include $filepath;
            $out = ob_get_clean();
            $this->adminFiles[] = ['title' => $strTitle, 'path' => $filepath, 'output' => $out];
            throw new \BxStandin\IncludeAdminFileCalled((string)$strTitle, (string)$filepath, $out);
        }

        public function GetGroupRight($module_id, $arGroups = false, $use_default_level = 'Y', $max_right_for_super_admin = 'Y', $site_id = false)
        {
            global $USER;
            if ($USER instanceof CUser && $USER->IsAdmin()) {
                return 'W';
            }
            $def = Option::get($module_id, 'GROUP_DEFAULT_RIGHT', '');
            return $def !== '' && $use_default_level === 'Y' ? $def : 'D';
        }

        public function GetCurPage($get_index_page = null)
        {
            $uri = $_SERVER['REQUEST_URI'] ?? ($_SERVER['SCRIPT_NAME'] ?? '/');
            return explode('?', $uri, 2)[0];
        }

        public function GetCurPageParam($strParam = '', $arParamKill = [], $get_index_page = null)
        {
            return $this->GetCurPage() . ($strParam !== '' ? '?' . $strParam : '');
        }

        public function SetTitle($title)
        {
            $this->title = (string)$title;
        }

        public function GetTitle()
        {
            return $this->title;
        }

        public function AuthForm($mess)
        {
            echo '<div class="auth-form">' . htmlspecialcharsbx(is_array($mess) ? ($mess['MESSAGE'] ?? '') : $mess) . '</div>';
        }

        public function RestartBuffer()
        {
            while (ob_get_level() > 0) {
                ob_end_clean();
            }
        }

        public static function FinalActions()
        {
            \Bitrix\Main\Application::getInstance()->runBackgroundJobs();
        }
    }

    /** The signed-in user of this hit: $GLOBALS['BX_STANDIN_USER'] = ['ID' => 1, 'ADMIN' => true] or env BX_STANDIN_USER_ID. */
    class CUser
    {
        private int $id;
        private bool $admin;

        public function __construct(?int $id = null, bool $admin = true)
        {
            $this->id = $id ?? 0;
            $this->admin = $admin && $this->id > 0;
        }

        public function GetID()
        {
            return $this->id > 0 ? $this->id : null;
        }

        public function IsAdmin()
        {
            return $this->admin;
        }

        public function IsAuthorized()
        {
            return $this->id > 0;
        }

        public function GetUserGroupArray()
        {
            return $this->admin ? [1, 2] : [2];
        }

        public function CanDoOperation($op)
        {
            return $this->admin;
        }

        public function GetLogin()
        {
            return $this->id > 0 ? 'user' . $this->id : '';
        }
    }

    class CAdminMessage
    {
        public static function ShowMessage($message)
        {
            if (!is_array($message)) {
                $message = ['MESSAGE' => (string)$message, 'TYPE' => 'ERROR'];
            }
            $type = ($message['TYPE'] ?? 'ERROR') === 'OK' ? 'ok' : 'error';
            $details = $message['DETAILS'] ?? '';
            if (empty($message['HTML'])) {
                $details = htmlspecialcharsbx($details);
            }
            echo '<div class="adm-info-message-wrap adm-info-message-' . $type . '"><div class="adm-info-message">'
                . '<div class="adm-info-message-title">' . htmlspecialcharsbx($message['MESSAGE'] ?? '') . '</div>'
                . $details . '</div></div>';
        }

        public static function ShowNote($message)
        {
            self::ShowMessage(['MESSAGE' => $message, 'TYPE' => 'OK']);
        }
    }

    function LocalRedirect($url, $skip_security_check = false, $status = '302 Found')
    {
        throw new \BxStandin\LocalRedirectCalled((string)$url, (string)$status);
    }

    function ShowError($strError, $cls = 'errortext')
    {
        if ($strError !== '' && $strError !== null) {
            echo '<p><span class="' . $cls . '">' . $strError . '</span></p>';
        }
    }

    function htmlspecialcharsbx($string, $flags = ENT_COMPAT, $doubleEncode = true)
    {
        return htmlspecialchars((string)$string, $flags, 'UTF-8', $doubleEncode);
    }

    function bitrix_sessid()
    {
        return md5('bxstandin|' . ($_SERVER['DOCUMENT_ROOT'] ?? '') . '|' . (session_status() === PHP_SESSION_ACTIVE ? session_id() : 'cli'));
    }

    function bitrix_sessid_post($varname = 'sessid', $returnInvocations = false)
    {
        return '<input type="hidden" name="' . htmlspecialcharsbx($varname) . '" id="' . htmlspecialcharsbx($varname) . '" value="' . bitrix_sessid() . '" />';
    }

    function bitrix_sessid_get($varname = 'sessid')
    {
        return $varname . '=' . bitrix_sessid();
    }

    function check_bitrix_sessid($varname = 'sessid')
    {
        $v = $_REQUEST[$varname] ?? ($_SERVER['HTTP_X_BITRIX_CSRF_TOKEN'] ?? '');
        return is_string($v) && hash_equals(bitrix_sessid(), $v);
    }

    function ConvertTimeStamp($timestamp = false, $type = 'SHORT', $site = false, $bSearchInSitesOnly = false)
    {
        $timestamp = $timestamp === false ? time() : (int)$timestamp;
        return date($type === 'FULL' ? 'd.m.Y H:i:s' : 'd.m.Y', $timestamp);
    }

    /** Copies a file, or the files of a folder ($recursive: and its sub-folders) into $to. */
    function CopyDirFiles($path_from, $path_to, $ReWrite = true, $Recursive = false, $bDeleteAfterCopy = false, $strExclude = '')
    {
        if (is_file($path_from)) {
            $target = is_dir($path_to) ? rtrim($path_to, '/') . '/' . basename($path_from) : $path_to;
            if (!$ReWrite && file_exists($target)) {
                return true;
            }
            @mkdir(dirname($target), 0777, true);
            $ok = copy($path_from, $target);
            if ($ok && $bDeleteAfterCopy) {
                unlink($path_from);
            }
            return $ok;
        }
        if (!is_dir($path_from)) {
            return false;
        }
        @mkdir($path_to, 0777, true);
        foreach (scandir($path_from) as $f) {
            if ($f === '.' || $f === '..' || ($strExclude !== '' && str_starts_with($f, $strExclude))) {
                continue;
            }
            $src = "$path_from/$f";
            if (is_dir($src)) {
                if ($Recursive) {
                    CopyDirFiles($src, "$path_to/$f", $ReWrite, true, $bDeleteAfterCopy, $strExclude);
                }
                continue;
            }
            CopyDirFiles($src, "$path_to/$f", $ReWrite, false, $bDeleteAfterCopy);
        }
        return true;
    }

    /** Deletes in $toDir the files that exist in $frDir (top level only, as the kernel). */
    function DeleteDirFiles($frDir, $toDir, $arExept = [])
    {
        if (!is_dir($frDir)) {
            return;
        }
        foreach (scandir($frDir) as $f) {
            if ($f === '.' || $f === '..' || in_array($f, $arExept, true) || is_dir("$frDir/$f")) {
                continue;
            }
            @unlink("$toDir/$f");
        }
    }

    /** Recursive delete of a path relative to the document root (or $root). */
    function DeleteDirFilesEx($path, $root = null)
    {
        $root ??= $_SERVER['DOCUMENT_ROOT'];
        $full = rtrim($root, '/') . '/' . ltrim($path, '/');
        if (!file_exists($full) || $path === '' || $path === '/') {
            return false;
        }
        if (is_file($full) || is_link($full)) {
            return unlink($full);
        }
        $it = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($full, FilesystemIterator::SKIP_DOTS), RecursiveIteratorIterator::CHILD_FIRST);
        foreach ($it as $f) {
            $f->isDir() ? rmdir($f->getPathname()) : unlink($f->getPathname());
        }
        return rmdir($full);
    }
}
