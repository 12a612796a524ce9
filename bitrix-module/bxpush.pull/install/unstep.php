<?php
// Uninstall step 1: what uninstall will do, and the confirmation (posts step=2).
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

use Bitrix\Main\Localization\Loc;
use Bxpush\Pull\PullOptions;

Loc::loadMessages(__FILE__);

global $APPLICATION;
$snapshot = PullOptions::savedSnapshot() ?? [];
?>
<form action="<?= htmlspecialcharsbx($APPLICATION->GetCurPage()) ?>" method="post">
    <?= bitrix_sessid_post() ?>
    <input type="hidden" name="lang" value="<?= htmlspecialcharsbx(LANGUAGE_ID) ?>">
    <input type="hidden" name="id" value="bxpush.pull">
    <input type="hidden" name="uninstall" value="Y">
    <input type="hidden" name="step" value="2">
    <?php CAdminMessage::ShowMessage(Loc::getMessage('MOD_UNINST_WARN')); ?>
    <p><?= htmlspecialcharsbx(Loc::getMessage('BXPUSH_PULL_UNSTEP_RESTORE', ['#NAMES#' => implode(', ', array_keys($snapshot))])) ?></p>
    <input type="submit" name="inst" value="<?= htmlspecialcharsbx(Loc::getMessage('MOD_UNINST_DEL')) ?>">
</form>
