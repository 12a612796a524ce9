<?php
// Uninstall done.
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

use Bitrix\Main\Localization\Loc;

Loc::loadMessages(__FILE__);

global $APPLICATION;
CAdminMessage::ShowNote(Loc::getMessage('MOD_UNINST_OK'));
?>
<p><?= htmlspecialcharsbx(Loc::getMessage('BXPUSH_PULL_UNSTEP2_DONE')) ?></p>
<?php foreach ((array)($GLOBALS['bxpushPullStepNotes'] ?? []) as $note): ?>
    <p class="bxpush-pull-note"><?= htmlspecialcharsbx($note) ?></p>
<?php endforeach; ?>
<form action="<?= htmlspecialcharsbx($APPLICATION->GetCurPage()) ?>">
    <input type="hidden" name="lang" value="<?= htmlspecialcharsbx(LANGUAGE_ID) ?>">
    <input type="submit" value="<?= htmlspecialcharsbx(Loc::getMessage('MOD_BACK')) ?>">
</form>
