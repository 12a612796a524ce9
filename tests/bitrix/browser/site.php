<?php
// Builds the stand-in site of the browser test and installs bxpush.pull into it through the
// module's own installer (DoInstall of install/index.php, with the install step's form),
// run by the stand-in kernel:
//
//   php -n -d extension=…/libbxpush.so -d bxpush.server=SOCK -d bxpush.signature_key=KEY \
//       tests/bitrix/browser/site.php DOCROOT SUB_PORT PUB_PORT
//
// The pull options point the page's client at bxpush on 127.0.0.1:SUB_PORT and PHP's
// publishing at 127.0.0.1:PUB_PORT; the signature key is the extension's (never printed).
// The site also gets the `pull.client` CoreJS extension of the stand-in (pull-client/: the
// real @bitrix24/b24jssdk PullClient behind a minimal BX.PULL), which the real pull module
// would ship. Prints one JSON line: {"docroot": …, "installed": true}; exits 1
// with the installer's message when the module did not install.

if ($argc < 4) {
    fwrite(STDERR, "usage: php site.php DOCROOT SUB_PORT PUB_PORT\n");
    exit(2);
}
[, $dir, $sub, $pub] = $argv;
$repo = dirname(__DIR__, 3);
$sdk = $repo . '/tests/js/node_modules/@bitrix24/b24jssdk/dist/umd/index.min.js';
if (!is_file($sdk)) {
    fwrite(STDERR, "site.php: $sdk is missing: run `make js-deps` (npm ci in tests/js)\n");
    exit(1);
}

require $repo . '/tests/bitrix/kernel/docroot.php';
$root = bx_standin_docroot($dir, ['server_name' => '127.0.0.1']);

// the module, where `make install-bitrix` puts it
bx_standin_copy_tree($repo . '/bitrix-module/bxpush.pull', $root . '/local/modules/bxpush.pull');

// the stand-in pull module's JS client extension
@mkdir($root . '/bitrix/js/pull/client', 0777, true);
foreach (['config.php', 'pull.shim.js'] as $f) {
    copy(__DIR__ . '/pull-client/' . $f, $root . '/bitrix/js/pull/client/' . $f);
}
copy($sdk, $root . '/bitrix/js/pull/client/b24jssdk.umd.min.js');

$_SERVER['DOCUMENT_ROOT'] = $root;
$_SERVER['REQUEST_URI'] = '/bitrix/admin/partner_modules.php';
$_SERVER['REQUEST_METHOD'] = 'POST';
define('ADMIN_SECTION', true);
require $root . '/bitrix/modules/main/include/prolog_before.php';

// The install step's form, as the admin submits it.
$_GET = $_POST = $_REQUEST = [
    'lang' => LANGUAGE_ID,
    'id' => 'bxpush.pull',
    'install' => 'Y',
    'step' => '2',
    'sessid' => bitrix_sessid(),
    'path_to_modern_listener' => "http://127.0.0.1:$sub/bitrix/sub/",
    'path_to_modern_listener_secure' => "https://127.0.0.1:$sub/bitrix/sub/",
    'path_to_websocket' => "ws://127.0.0.1:$sub/bitrix/subws/",
    'path_to_websocket_secure' => "wss://127.0.0.1:$sub/bitrix/subws/",
    'path_to_publish' => "http://127.0.0.1:$pub/bitrix/pub/",
    'path_to_publish_web' => "http://127.0.0.1:$sub/bitrix/rest/",
    'path_to_publish_web_secure' => "https://127.0.0.1:$sub/bitrix/rest/",
    'signature_key' => (string)ini_get('bxpush.signature_key'),
    'signature_algo' => (string)ini_get('bxpush.signature_algo'),
];
foreach ($_REQUEST as $k => $v) {
    $GLOBALS[$k] = $v;   // the kernel exports request variables as globals (FormDecode)
}

$module = CModule::CreateModuleObject('bxpush.pull');
if (!$module) {
    fwrite(STDERR, "site.php: CModule::CreateModuleObject('bxpush.pull') failed: no install/index.php with class bxpush_pull\n");
    exit(1);
}
$page = '';
try {
    $module->DoInstall();
} catch (BxStandin\IncludeAdminFileCalled $e) {
    $page = $e->output;
}
if (!IsModuleInstalled('bxpush.pull')) {
    $ex = $APPLICATION->GetException();
    $why = $ex ? $ex->GetString() : trim(preg_replace('/\s+/', ' ', strip_tags($page)));
    fwrite(STDERR, 'site.php: bxpush.pull did not install: ' . ($why !== '' ? $why : 'no reason given') . "\n");
    exit(1);
}
echo json_encode(['docroot' => $root, 'installed' => true], JSON_UNESCAPED_SLASHES), "\n";
