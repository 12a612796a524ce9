<?php
// bxpush.pull: its classes live in lib/ (namespace Bxpush\Pull, autoloaded by the kernel once
// the module is installed). The transport shim is declared by the main:OnPageStart handler
// (Bxpush\Pull\ShimLoader::onPageStart), not here: include.php runs only when something
// includes the module, which may be after the pull module's own transport was loaded.
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

return true;
