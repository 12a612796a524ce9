<?php
// CoreJS extension `pull.client` of the stand-in site (copied by the browser test to
// DOCROOT/bitrix/js/pull/client/ together with the files it names): the real
// @bitrix24/b24jssdk PullClient (UMD bundle from tests/js/node_modules) behind a minimal
// BX.PULL (pull.shim.js). Like the pull module's own config.php it hands the client its
// settings as BX.message keys.

if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

$enabled = \Bitrix\Main\Loader::includeModule('pull') && CPullOptions::GetQueueServerStatus();

return [
    'js' => ['b24jssdk.umd.min.js', 'pull.shim.js'],
    'skip_core' => true,
    'lang_additional' => [
        'pull_server_enabled' => $enabled ? 'Y' : 'N',
        'pull_config_timestamp' => $enabled ? (int)CPullOptions::GetConfigTimestamp() : 0,
        'pull_guest_mode' => 'N',
        'pull_guest_user_id' => 0,
    ],
];
