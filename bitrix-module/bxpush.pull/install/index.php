<?php
// bxpush.pull's install class: drives the admin steps; the work is in lib/Installer.
//   install:   step 1 = the form (step.php), step 2 = Installer::install, then the result (step2.php);
//              a refusal shows the form again with the reason (the module stays uninstalled).
//   uninstall: step 1 = the confirmation (unstep.php), step 2 = Installer::uninstall, then unstep2.php.

use Bitrix\Main\Loader;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\ModuleManager;

// before the guard: with CModule known, PHP declares the class below when compiling the
// file, so class_exists() is already true on the first include
Loc::loadMessages(__FILE__);

if (class_exists('bxpush_pull')) {
    return;
}

class bxpush_pull extends CModule
{
    public $MODULE_ID = 'bxpush.pull';
    public $MODULE_VERSION;
    public $MODULE_VERSION_DATE;
    public $MODULE_NAME;
    public $MODULE_DESCRIPTION;
    public $PARTNER_NAME;
    public $PARTNER_URI;
    public $MODULE_GROUP_RIGHTS = 'N';

    public function __construct()
    {
        $arModuleVersion = [];
        include __DIR__ . '/version.php';
        $this->MODULE_VERSION = $arModuleVersion['VERSION'];
        $this->MODULE_VERSION_DATE = $arModuleVersion['VERSION_DATE'];
        $this->MODULE_NAME = Loc::getMessage('BXPUSH_PULL_MODULE_NAME');
        $this->MODULE_DESCRIPTION = Loc::getMessage('BXPUSH_PULL_MODULE_DESCRIPTION');
        $this->PARTNER_NAME = Loc::getMessage('BXPUSH_PULL_PARTNER_NAME');
        $this->PARTNER_URI = 'https://github.com/bxpush/bxpush';
    }

    /** lib/ is autoloaded by the kernel only once the module is registered; install needs it before. */
    private function useLib(): void
    {
        Loader::registerNamespace('Bxpush\\Pull', dirname(__DIR__) . '/lib');
    }

    public function DoInstall()
    {
        global $APPLICATION;
        $this->useLib();
        $step = (int)($_REQUEST['step'] ?? 1);
        if (!ModuleManager::isModuleInstalled('pull')) {
            $APPLICATION->ThrowException(Loc::getMessage('BXPUSH_PULL_INSTALL_NO_PULL'));
            return false;
        }
        if ($step < 2) {
            $APPLICATION->IncludeAdminFile(Loc::getMessage('BXPUSH_PULL_INSTALL_TITLE'), __DIR__ . '/step.php');
            return true;
        }
        if (!check_bitrix_sessid()) {
            $APPLICATION->ThrowException(Loc::getMessage('BXPUSH_PULL_SESSION_EXPIRED'));
            $APPLICATION->IncludeAdminFile(Loc::getMessage('BXPUSH_PULL_INSTALL_TITLE'), __DIR__ . '/step.php');
            return false;
        }
        $result = \Bxpush\Pull\Installer::install($_REQUEST);
        if (!$result->isSuccess()) {
            $APPLICATION->ThrowException(implode('<br>', array_map('htmlspecialcharsbx', $result->getErrorMessages())));
            $APPLICATION->IncludeAdminFile(Loc::getMessage('BXPUSH_PULL_INSTALL_TITLE'), __DIR__ . '/step.php');
            return false;
        }
        $this->InstallFiles();
        ModuleManager::registerModule($this->MODULE_ID);
        $GLOBALS['bxpushPullStepNotes'] = $result->getData()['notes'];
        $APPLICATION->IncludeAdminFile(Loc::getMessage('BXPUSH_PULL_INSTALL_TITLE'), __DIR__ . '/step2.php');
        return true;
    }

    public function DoUninstall()
    {
        global $APPLICATION;
        $this->useLib();
        $step = (int)($_REQUEST['step'] ?? 1);
        if ($step < 2) {
            $APPLICATION->IncludeAdminFile(Loc::getMessage('BXPUSH_PULL_UNINSTALL_TITLE'), __DIR__ . '/unstep.php');
            return true;
        }
        if (!check_bitrix_sessid()) {
            $APPLICATION->ThrowException(Loc::getMessage('BXPUSH_PULL_SESSION_EXPIRED'));
            return false;
        }
        $result = \Bxpush\Pull\Installer::uninstall();
        $this->UnInstallFiles();
        ModuleManager::unRegisterModule($this->MODULE_ID);
        $GLOBALS['bxpushPullStepNotes'] = $result->getData()['notes'];
        $APPLICATION->IncludeAdminFile(Loc::getMessage('BXPUSH_PULL_UNINSTALL_TITLE'), __DIR__ . '/unstep2.php');
        return true;
    }

    /** install/js and install/admin, whole trees, into /bitrix/js and /bitrix/admin (when the module has them). */
    public function InstallFiles()
    {
        $root = \Bitrix\Main\Application::getDocumentRoot();
        foreach (['js', 'admin'] as $dir) {
            if (is_dir(__DIR__ . "/$dir")) {
                CopyDirFiles(__DIR__ . "/$dir", "$root/bitrix/$dir", true, true);
            }
        }
        return true;
    }

    public function UnInstallFiles()
    {
        $root = \Bitrix\Main\Application::getDocumentRoot();
        if (is_dir(__DIR__ . '/admin')) {
            DeleteDirFiles(__DIR__ . '/admin', "$root/bitrix/admin");
        }
        if (is_dir(__DIR__ . '/js/bxpush')) {
            DeleteDirFilesEx('/bitrix/js/bxpush');
        }
        return true;
    }
}
