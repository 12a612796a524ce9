<?php
// One hit of the site in env BX_DOCUMENT_ROOT, booted through the site's own
// bitrix/modules/main/include/prolog_before.php (the stand-in kernel); the hit's arguments
// are the JSON in env BX_HIT_ARGS ($HIT). 'request' becomes $_REQUEST/$_POST (with a valid
// sessid unless 'sessid' => false), 'admin' defines ADMIN_SECTION. hit_result() prints the
// line the test reads.

if (defined('BX_HIT_BOOTED')) {
    return;   // a hit script that includes another one
}
define('BX_HIT_BOOTED', true);
$_SERVER['DOCUMENT_ROOT'] = getenv('BX_DOCUMENT_ROOT');
$_SERVER['SERVER_NAME'] = $_SERVER['HTTP_HOST'] = 'vectors.test';
$_SERVER['REQUEST_URI'] = '/bitrix/admin/partner_modules.php';
$HIT = json_decode((string)getenv('BX_HIT_ARGS'), true) ?: [];
if (!empty($HIT['admin'])) {
    define('ADMIN_SECTION', true);
}
require $_SERVER['DOCUMENT_ROOT'] . '/bitrix/modules/main/include/prolog_before.php';

if (isset($HIT['request'])) {
    $_REQUEST = $_POST = $HIT['request'] + (($HIT['sessid'] ?? true) ? ['sessid' => bitrix_sessid()] : []);
    $_SERVER['REQUEST_METHOD'] = 'POST';
}

if (!function_exists('hit_result')) {   // declared once even when one hit script includes another
    function hit_result(array $r): void
    {
        echo "\nHIT-RESULT: " . json_encode($r, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_INVALID_UTF8_SUBSTITUTE) . "\n";
    }

    /** Whether this hit runs with bxpush.pull's transport (declared on OnPageStart). */
    function hit_shim_active(): bool
    {
        return class_exists('Bitrix\\Pull\\ProtobufTransport', false) && defined('Bitrix\\Pull\\ProtobufTransport::BXPUSH_SHIM');
    }
}
