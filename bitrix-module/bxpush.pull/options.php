<?php
// Settings page of bxpush.pull (/bitrix/admin/settings.php?mid=bxpush.pull): a thin view.
// Form logic: lib/settings/form.php; live status: lib/settings/status.php (also served by
// the AJAX action bxpush:pull.settings.status); the test event: lib/settings/testevent.php
// (bxpush:pull.settings.sendTest); the page's script: install/js/bxpush/pull/settings/.

use Bitrix\Main\Loader;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\UI\Extension;
use Bxpush\Pull\Settings\Form;
use Bxpush\Pull\Settings\Status;

if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

/** @global CMain $APPLICATION */
/** @global CUser $USER */
global $APPLICATION, $USER;

$module_id = 'bxpush.pull';
Loc::loadMessages(__FILE__);

$RIGHT = $APPLICATION->GetGroupRight($module_id);
if ($RIGHT < 'R') {
    $APPLICATION->AuthForm(Loc::getMessage('BXPUSH_PULL_OPT_ACCESS_DENIED'));
    return;
}
if (!Loader::includeModule($module_id)) {
    CAdminMessage::ShowMessage(Loc::getMessage('BXPUSH_PULL_OPT_NOT_INSTALLED'));
    return;
}

$aTabs = [
    ['DIV' => 'bxpush_status', 'TAB' => Loc::getMessage('BXPUSH_PULL_OPT_TAB_STATUS'), 'TITLE' => Loc::getMessage('BXPUSH_PULL_OPT_TAB_STATUS_TITLE')],
    ['DIV' => 'bxpush_connection', 'TAB' => Loc::getMessage('BXPUSH_PULL_OPT_TAB_CONNECTION'), 'TITLE' => Loc::getMessage('BXPUSH_PULL_OPT_TAB_CONNECTION_TITLE')],
    ['DIV' => 'bxpush_key', 'TAB' => Loc::getMessage('BXPUSH_PULL_OPT_TAB_KEY'), 'TITLE' => Loc::getMessage('BXPUSH_PULL_OPT_TAB_KEY_TITLE')],
];
$tabControl = new CAdminTabControl('bxpush_pull_tabs', $aTabs);
$curPage = $APPLICATION->GetCurPage() . '?mid=' . urlencode($module_id) . '&lang=' . urlencode(LANGUAGE_ID);

$values = Form::current();
$errors = [];
$isSave = isset($_POST['Update']) || isset($_POST['Apply']);
if (($_SERVER['REQUEST_METHOD'] ?? 'GET') === 'POST' && $isSave) {
    if ($RIGHT < 'W') {
        $errors[] = Loc::getMessage('BXPUSH_PULL_OPT_ERR_RIGHT');
    } elseif (!check_bitrix_sessid()) {
        $errors[] = Loc::getMessage('BXPUSH_PULL_OPT_ERR_SESSID');
    } else {
        $values = Form::read($_POST);
        $saved = Form::save($values);
        if ($saved->isSuccess()) {
            LocalRedirect($curPage . '&saved=Y&' . $tabControl->ActiveTabParam());
        }
        foreach ($saved->getErrors() as $error) {
            $errors[] = $error->getMessage();
        }
    }
}

Extension::load(['pull.client', 'bxpush.pull.settings']);

if ($errors !== []) {
    CAdminMessage::ShowMessage([
        'TYPE' => 'ERROR',
        'MESSAGE' => Loc::getMessage('BXPUSH_PULL_OPT_ERR_NOT_SAVED'),
        'DETAILS' => implode('<br>', array_map('htmlspecialcharsbx', $errors)),
        'HTML' => true,
    ]);
} elseif (($_GET['saved'] ?? '') === 'Y') {
    CAdminMessage::ShowNote(Loc::getMessage('BXPUSH_PULL_OPT_SAVED'));
}

$status = Status::collect();
$jsMessages = [];
foreach ([
    'BXPUSH_PULL_JS_YES', 'BXPUSH_PULL_JS_NO', 'BXPUSH_PULL_JS_UPDATED', 'BXPUSH_PULL_JS_REFRESH_FAILED',
    'BXPUSH_PULL_JS_RUNTIME_UP', 'BXPUSH_PULL_JS_RUNTIME_DOWN',
    'BXPUSH_PULL_JS_CONNECTIONS', 'BXPUSH_PULL_JS_SPOOL', 'BXPUSH_PULL_JS_SPOOL_EMPTY',
    'BXPUSH_PULL_JS_SPOOL_WORKER', 'BXPUSH_PULL_JS_SPOOL_BAD', 'BXPUSH_PULL_JS_NO_PROBLEMS',
    'BXPUSH_PULL_JS_NO_ERRORS', 'BXPUSH_PULL_JS_CLIENT_NONE', 'BXPUSH_PULL_JS_CLIENT_ONLINE',
    'BXPUSH_PULL_JS_CLIENT_OFFLINE', 'BXPUSH_PULL_JS_CLIENT_CONNECTING', 'BXPUSH_PULL_JS_CLIENT_START_FAILED',
    'BXPUSH_PULL_JS_TEST_SENDING', 'BXPUSH_PULL_JS_TEST_WAITING', 'BXPUSH_PULL_JS_TEST_ARRIVED',
    'BXPUSH_PULL_JS_TEST_LATE', 'BXPUSH_PULL_JS_TEST_TIMEOUT', 'BXPUSH_PULL_JS_TEST_SEND_FAILED',
    'BXPUSH_PULL_JS_TEST_TRANSPORT_FAILED', 'BXPUSH_PULL_JS_TEST_CAUSE_CLIENT',
    'BXPUSH_PULL_JS_TEST_CAUSE_NO_CLIENT', 'BXPUSH_PULL_JS_TEST_CAUSE_UNKNOWN', 'BXPUSH_PULL_JS_TEST_SPOOLED',
    'BXPUSH_PULL_JS_KEY_SHOW', 'BXPUSH_PULL_JS_KEY_HIDE', 'BXPUSH_PULL_JS_KEY_GENERATED',
    'BXPUSH_PULL_JS_KEY_NO_CRYPTO', 'BXPUSH_PULL_JS_BYTES',
] as $messageCode) {
    $jsMessages[preg_replace('/^.*?_JS_/', '', $messageCode)] = (string)Loc::getMessage($messageCode);
}
$jsConfig = [
    'moduleId' => $module_id,
    'ajaxUrl' => '/bitrix/services/main/ajax.php',
    'sessid' => bitrix_sessid(),
    'userId' => (int)$USER->GetID(),
    'canWrite' => $RIGHT >= 'W',
    'testTimeout' => Form::testTimeout(),
    'refreshMs' => 5000,
    'status' => $status,
    'messages' => $jsMessages,
];
// Only those who may change the key get it (in the password field and, masked, in the lines below).
$key = $RIGHT >= 'W' ? $values['signature_key'] : '';
$maskedKey = $RIGHT >= 'W' ? Form::mask($key) : str_repeat('•', 12);
$ro = $RIGHT < 'W' ? ' disabled' : '';
$h = static fn ($s) => htmlspecialcharsbx((string)$s);
$row = static function (string $label, string $valueHtml, string $hintHtml = '') {
    echo '<tr><td class="adm-detail-content-cell-l" width="40%">', $label, '</td>',
        '<td class="adm-detail-content-cell-r" width="60%">', $valueHtml,
        ($hintHtml !== '' ? '<div class="bxpush-hint">' . $hintHtml . '</div>' : ''), '</td></tr>';
};
$stat = static fn (string $path) => '<span class="bxpush-stat" data-bxpush-stat="' . $path . '">…</span>';
$input = static function (string $name, string $value, string $placeholder) use ($h, $ro) {
    return '<input type="text" size="60" name="' . $h($name) . '" id="bxpush_' . $h($name) . '" value="' . $h($value)
        . '" placeholder="' . $h($placeholder) . '"' . $ro . '>';
};
?>
<div id="bxpush-pull-settings" class="bxpush-settings">
<script type="application/json" id="bxpush-pull-settings-config"><?= json_encode($jsConfig, JSON_HEX_TAG | JSON_HEX_AMP | JSON_UNESCAPED_UNICODE) ?></script>
<form method="post" action="<?= $h($curPage) ?>" id="bxpush-pull-settings-form" autocomplete="off">
<?= bitrix_sessid_post() ?>
<?php
$tabControl->Begin();

// ---- Status ---------------------------------------------------------------------------
$tabControl->BeginNextTab();
$row(
    Loc::getMessage('BXPUSH_PULL_OPT_RUNTIME_ADDRESS'),
    $status['extension']['loaded']
        ? '<code data-bxpush-field="server">' . $h($status['extension']['server']) . '</code>'
        : '<span class="bxpush-bad">' . $h(Loc::getMessage('BXPUSH_PULL_OPT_NO_EXTENSION')) . '</span>',
    $h(Loc::getMessage('BXPUSH_PULL_OPT_RUNTIME_ADDRESS_HINT'))
);
$row(Loc::getMessage('BXPUSH_PULL_OPT_RUNTIME'), $stat('runtime'));
$row(Loc::getMessage('BXPUSH_PULL_OPT_CONNECTIONS'), $stat('connections'));
$row(Loc::getMessage('BXPUSH_PULL_OPT_CHANNELS'), $stat('channels'));
$row(Loc::getMessage('BXPUSH_PULL_OPT_MESSAGES_TODAY'), $stat('messagesToday'));
$row(Loc::getMessage('BXPUSH_PULL_OPT_PUBLISHED'), $stat('published'));
$row(Loc::getMessage('BXPUSH_PULL_OPT_SPOOL'), $stat('spool'), $h(Loc::getMessage('BXPUSH_PULL_OPT_SPOOL_HINT')));
$row(Loc::getMessage('BXPUSH_PULL_OPT_BAD_REQUESTS'), $stat('badRequests'));
$row(Loc::getMessage('BXPUSH_PULL_OPT_SLOW_READERS'), $stat('slowReadersCut'));
$row(Loc::getMessage('BXPUSH_PULL_OPT_PROBLEMS'), $stat('problems'));
$row(Loc::getMessage('BXPUSH_PULL_OPT_RECENT_ERRORS'), $stat('errors'));
$row('', $stat('updated'));
?>
<tr class="heading"><td colspan="2"><?= $h(Loc::getMessage('BXPUSH_PULL_OPT_TEST_HEADING')) ?></td></tr>
<?php
$row(Loc::getMessage('BXPUSH_PULL_OPT_CLIENT'), '<span class="bxpush-stat" id="bxpush-client-status" data-state="none">…</span>');
$row(
    '',
    '<input type="button" id="bxpush-send-test" value="' . $h(Loc::getMessage('BXPUSH_PULL_OPT_SEND_TEST')) . '"' . $ro . '>'
    . ' <span id="bxpush-test-result" class="bxpush-test-result" data-state="idle" aria-live="polite"></span>',
    $h(Loc::getMessage('BXPUSH_PULL_OPT_SEND_TEST_HINT'))
);

// ---- Listeners and transports -----------------------------------------------------------
$tabControl->BeginNextTab();
$pathHints = [
    'path_to_modern_listener' => 'BXPUSH_PULL_OPT_HINT_PATH_TO_MODERN_LISTENER',
    'path_to_modern_listener_secure' => 'BXPUSH_PULL_OPT_HINT_PATH_TO_MODERN_LISTENER_SECURE',
    'path_to_websocket' => 'BXPUSH_PULL_OPT_HINT_PATH_TO_WEBSOCKET',
    'path_to_websocket_secure' => 'BXPUSH_PULL_OPT_HINT_PATH_TO_WEBSOCKET_SECURE',
    'path_to_publish' => 'BXPUSH_PULL_OPT_HINT_PATH_TO_PUBLISH',
    'path_to_publish_web' => 'BXPUSH_PULL_OPT_HINT_PATH_TO_PUBLISH_WEB',
    'path_to_publish_web_secure' => 'BXPUSH_PULL_OPT_HINT_PATH_TO_PUBLISH_WEB_SECURE',
];
foreach (Form::FIELDS as $name => [, $kind, $example]) {
    if (!in_array($kind, ['http', 'https', 'ws', 'wss', 'publish'], true)) {
        continue;
    }
    $row('<label for="bxpush_' . $h($name) . '">' . $h(Form::label($name)) . '</label>', $input($name, $values[$name], $example),
        $h(Loc::getMessage($pathHints[$name])));
}
?>
<tr class="heading"><td colspan="2"><?= $h(Loc::getMessage('BXPUSH_PULL_OPT_TRANSPORTS')) ?></td></tr>
<?php
$row(Loc::getMessage('BXPUSH_PULL_OPT_TRANSPORT_WS'), $h(Loc::getMessage(
    $status['pull']['version'] >= 3 ? 'BXPUSH_PULL_OPT_TRANSPORT_WS_ON' : 'BXPUSH_PULL_OPT_TRANSPORT_WS_OFF'
)));
$row(Loc::getMessage('BXPUSH_PULL_OPT_TRANSPORT_LP'), $h(Loc::getMessage('BXPUSH_PULL_OPT_TRANSPORT_LP_ON')));
$row(Loc::getMessage('BXPUSH_PULL_OPT_TRANSPORT_SSE'), $h(Loc::getMessage('BXPUSH_PULL_OPT_TRANSPORT_SSE_ON')));
$row(Loc::getMessage('BXPUSH_PULL_OPT_SENDER'), $h(Loc::getMessage(
    $status['pull']['shim'] ? 'BXPUSH_PULL_OPT_SENDER_SHIM' : 'BXPUSH_PULL_OPT_SENDER_HTTP'
)));
$row(Loc::getMessage('BXPUSH_PULL_OPT_PULL_STATE'), $h(Loc::getMessage('BXPUSH_PULL_OPT_PULL_STATE_VALUE', [
    '#ENABLED#' => Loc::getMessage($status['pull']['enabled'] ? 'BXPUSH_PULL_JS_YES' : 'BXPUSH_PULL_JS_NO'),
    '#VERSION#' => $status['pull']['version'],
    '#MODE#' => $status['pull']['mode'] !== '' ? $status['pull']['mode'] : '-',
    '#PROTOBUF#' => Loc::getMessage($status['pull']['protobuf'] ? 'BXPUSH_PULL_JS_YES' : 'BXPUSH_PULL_JS_NO'),
])));
$row('<label for="bxpush_test_timeout">' . $h(Form::label('test_timeout')) . '</label>',
    '<input type="number" min="' . Form::TIMEOUT_MIN . '" max="' . Form::TIMEOUT_MAX . '" name="test_timeout" id="bxpush_test_timeout" value="'
    . $h($values['test_timeout']) . '"' . $ro . '>');

// ---- Signature key ------------------------------------------------------------------------
$tabControl->BeginNextTab();
$row(
    '<label for="bxpush_signature_key">' . $h(Form::label('signature_key')) . '</label>',
    '<input type="password" size="60" name="signature_key" id="bxpush_signature_key" value="' . $h($key) . '"'
    . ' spellcheck="false" autocomplete="new-password"' . $ro . '>'
    . ' <input type="button" id="bxpush-key-reveal" value="' . $h(Loc::getMessage('BXPUSH_PULL_JS_KEY_SHOW')) . '"' . $ro . '>'
    . ' <input type="button" id="bxpush-key-generate" value="' . $h(Loc::getMessage('BXPUSH_PULL_OPT_KEY_GENERATE')) . '"' . $ro . '>'
    . ' <span id="bxpush-key-note" class="bxpush-note"></span>',
    $h(Loc::getMessage('BXPUSH_PULL_OPT_KEY_HINT', ['#MIN#' => Form::MIN_KEY_LENGTH]))
);
$algoOptions = '';
foreach (Form::ALGOS as $algo) {
    $algoOptions .= '<option value="' . $algo . '"' . ($values['signature_algo'] === $algo ? ' selected' : '') . '>' . $algo . '</option>';
}
$row('<label for="bxpush_signature_algo">' . $h(Form::label('signature_algo')) . '</label>',
    '<select name="signature_algo" id="bxpush_signature_algo"' . $ro . '>' . $algoOptions . '</select>');
$row(Loc::getMessage('BXPUSH_PULL_OPT_KEY_FLAG'),
    '<code id="bxpush-key-flag" data-prefix="' . $h(Form::serveFlag('')) . '">' . $h(Form::serveFlag($maskedKey)) . '</code>');
$row(Loc::getMessage('BXPUSH_PULL_OPT_KEY_INI'),
    '<code id="bxpush-key-ini" data-prefix="bxpush.signature_key = &quot;" data-suffix="&quot;">' . $h(Form::iniLine($maskedKey)) . '</code>',
    $h(Loc::getMessage('BXPUSH_PULL_OPT_KEY_APPLY')));

// ---- Buttons ------------------------------------------------------------------------------
$tabControl->Buttons();
?>
<input type="submit" name="Update" value="<?= $h(Loc::getMessage('BXPUSH_PULL_OPT_SAVE')) ?>" class="adm-btn-save"<?= $ro ?>>
<input type="submit" name="Apply" value="<?= $h(Loc::getMessage('BXPUSH_PULL_OPT_APPLY')) ?>"<?= $ro ?>>
<?php
$tabControl->End();
?>
</form>
</div>
