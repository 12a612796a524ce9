<?php
// Install done: OK, the mode, and what could not be done (old server unreachable, …).
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

use Bitrix\Main\Config\Option;
use Bitrix\Main\Localization\Loc;

Loc::loadMessages(__FILE__);

global $APPLICATION;
CAdminMessage::ShowNote(Loc::getMessage('MOD_INST_OK'));
$mode = Option::get('bxpush.pull', 'mode', '');
?>
<p><?= htmlspecialcharsbx(Loc::getMessage($mode === 'http' ? 'BXPUSH_PULL_STEP2_MODE_HTTP' : 'BXPUSH_PULL_STEP2_MODE_EXTENSION')) ?></p>
<?php foreach ((array)($GLOBALS['bxpushPullStepNotes'] ?? []) as $note): ?>
    <p class="bxpush-pull-note"><?= htmlspecialcharsbx($note) ?></p>
<?php endforeach; ?>
<p><a href="/bitrix/admin/settings.php?lang=<?= urlencode(LANGUAGE_ID) ?>&amp;mid=bxpush.pull&amp;mid_menu=1"><?= htmlspecialcharsbx(Loc::getMessage('BXPUSH_PULL_STEP2_SETTINGS')) ?></a></p>
<form action="<?= htmlspecialcharsbx($APPLICATION->GetCurPage()) ?>">
    <input type="hidden" name="lang" value="<?= htmlspecialcharsbx(LANGUAGE_ID) ?>">
    <input type="submit" value="<?= htmlspecialcharsbx(Loc::getMessage('MOD_BACK')) ?>">
</form>
