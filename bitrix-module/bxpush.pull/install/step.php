<?php
// Install step 1: the form (URLs of bxpush behind nginx, the key when the extension is not
// loaded). Shown again with the reason when install refused.
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

use Bitrix\Main\Localization\Loc;
use Bxpush\Pull\Extension;
use Bxpush\Pull\InstallForm;

Loc::loadMessages(__FILE__);

global $APPLICATION;
$ex = $APPLICATION->GetException();
if ($ex) {
    CAdminMessage::ShowMessage(['TYPE' => 'ERROR', 'MESSAGE' => Loc::getMessage('BXPUSH_PULL_STEP_REFUSED'), 'DETAILS' => $ex->GetString(), 'HTML' => true]);
}
$form = InstallForm::read($_REQUEST);
$ext = Extension::loaded();
$labels = [
    'path_to_modern_listener' => Loc::getMessage('BXPUSH_PULL_STEP_FIELD_LISTENER'),
    'path_to_modern_listener_secure' => Loc::getMessage('BXPUSH_PULL_STEP_FIELD_LISTENER_SECURE'),
    'path_to_websocket' => Loc::getMessage('BXPUSH_PULL_STEP_FIELD_WEBSOCKET'),
    'path_to_websocket_secure' => Loc::getMessage('BXPUSH_PULL_STEP_FIELD_WEBSOCKET_SECURE'),
    'path_to_publish' => Loc::getMessage('BXPUSH_PULL_STEP_FIELD_PUBLISH'),
    'path_to_publish_web' => Loc::getMessage('BXPUSH_PULL_STEP_FIELD_PUBLISH_WEB'),
    'path_to_publish_web_secure' => Loc::getMessage('BXPUSH_PULL_STEP_FIELD_PUBLISH_WEB_SECURE'),
];
?>
<p><?= htmlspecialcharsbx(Loc::getMessage($ext ? 'BXPUSH_PULL_STEP_MODE_EXTENSION' : 'BXPUSH_PULL_STEP_MODE_HTTP', ['#SERVER#' => Extension::server()])) ?></p>
<form action="<?= htmlspecialcharsbx($APPLICATION->GetCurPage()) ?>" method="post" id="bxpush-pull-install">
    <?= bitrix_sessid_post() ?>
    <input type="hidden" name="lang" value="<?= htmlspecialcharsbx(LANGUAGE_ID) ?>">
    <input type="hidden" name="id" value="bxpush.pull">
    <input type="hidden" name="install" value="Y">
    <input type="hidden" name="step" value="2">
    <table class="adm-detail-content-table edit-table">
        <?php foreach (InstallForm::PATH_FIELDS as $name): ?>
            <tr>
                <td width="40%"><label for="bx_<?= $name ?>"><?= htmlspecialcharsbx($labels[$name]) ?></label></td>
                <td><input type="text" size="50" id="bx_<?= $name ?>" name="<?= $name ?>" value="<?= htmlspecialcharsbx($form[$name]) ?>"></td>
            </tr>
        <?php endforeach; ?>
        <tr>
            <td><label for="bx_signature_key"><?= htmlspecialcharsbx(Loc::getMessage('BXPUSH_PULL_STEP_FIELD_SIGNATURE_KEY')) ?></label></td>
            <td>
                <input type="password" size="50" id="bx_signature_key" name="signature_key" value="" autocomplete="off">
                <div><?= htmlspecialcharsbx(Loc::getMessage($ext ? 'BXPUSH_PULL_STEP_KEY_HINT_EXTENSION' : 'BXPUSH_PULL_STEP_KEY_HINT_HTTP')) ?></div>
            </td>
        </tr>
        <tr>
            <td><label for="bx_signature_algo"><?= htmlspecialcharsbx(Loc::getMessage('BXPUSH_PULL_STEP_FIELD_SIGNATURE_ALGO')) ?></label></td>
            <td>
                <select id="bx_signature_algo" name="signature_algo">
                    <?php foreach (['sha1', 'sha256'] as $a): ?>
                        <option value="<?= $a ?>"<?= $form['signature_algo'] === $a ? ' selected' : '' ?>><?= $a ?></option>
                    <?php endforeach; ?>
                </select>
            </td>
        </tr>
    </table>
    <input type="submit" name="inst" value="<?= htmlspecialcharsbx(Loc::getMessage('BXPUSH_PULL_STEP_SUBMIT')) ?>" class="adm-btn-save">
</form>
