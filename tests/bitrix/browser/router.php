<?php
// The stand-in site's HTTP front for browser tests:
//
//   php -n -d extension=…/libbxpush.so -d bxpush.server=… -d bxpush.signature_key=… \
//       -S 127.0.0.1:PORT -t DOCROOT tests/bitrix/browser/router.php
//
//   /bitrix/admin/settings.php?mid=<module>   boots the stand-in kernel as an admin page and
//                                              renders the module's options.php the way the
//                                              kernel's settings.php does (inside a buffer,
//                                              before the admin prolog; LocalRedirect → 302)
//   /bitrix/services/main/ajax.php?action=…   D7 controller actions (BxStandin\AjaxRouter),
//                                              and pull.config.get for the page's pull client
//   anything else                              a file under DOCROOT (bitrix/js/… copied on
//                                              install), else 404
//
// The signed-in user is the stand-in's default (ID 1, administrator).

use Bitrix\Main\Loader;
use Bitrix\Main\ModuleManager;

$path = (string)parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
$kernel = dirname(__DIR__) . '/kernel/bootstrap.php';

if ($path === '/bitrix/admin/settings.php') {
    define('ADMIN_SECTION', true);
    require $kernel;
    $mid = is_string($_REQUEST['mid'] ?? null) ? $_REQUEST['mid'] : '';
    $options = ModuleManager::isValidModule($mid) && ModuleManager::isModuleInstalled($mid)
        ? Loader::getLocal('modules/' . $mid . '/options.php') : false;
    $installer = $options !== false ? Loader::getLocal('modules/' . $mid . '/install/index.php') : false;
    if ($options === false || $installer === false) {
        http_response_code(404);
        header('Content-Type: text/html; charset=UTF-8');
        echo BxStandin\AdminPage::render('Settings', '<p>No settings page for module «' . htmlspecialcharsbx($mid) . '» (not installed, or no options.php).</p>');
        return;
    }
    ob_start();
    try {
        include $options;   // at global scope, as settings.php does
    } catch (BxStandin\LocalRedirectCalled $redirect) {
        ob_end_clean();
        header('Location: ' . $redirect->url, true, 302);
        return;
    }
    $body = ob_get_clean();
    header('Content-Type: text/html; charset=UTF-8');
    echo BxStandin\AdminPage::render('Settings: ' . $mid, $body);
    return;
}

if ($path === '/bitrix/services/main/ajax.php') {
    require $kernel;
    $action = is_string($_GET['action'] ?? null) ? $_GET['action'] : '';
    $params = $_POST + $_GET;
    unset($params['action']);
    if ($action === 'pull.config.get') {
        // The pull module's own controller action (Bitrix\Pull\Controller\Config::getAction),
        // which the stand-in pull module does not have: Config::get plus serverTime.
        $answer = (new class extends Bitrix\Main\Engine\Controller {
            public function getAction(): ?array
            {
                global $USER;
                Loader::includeModule('pull');
                $config = Bitrix\Pull\Config::get(['USER_ID' => (int)$USER->GetID()]);
                if (!is_array($config)) {
                    $this->addError(new Bitrix\Main\Error('Push & Pull server is disabled or the user has no channel', 'PULL_DISABLED'));
                    return null;
                }
                return $config + ['serverTime' => date('c')];
            }
        })->standinRun('get', $params);
    } else {
        $answer = BxStandin\AjaxRouter::dispatch($action, $params);
    }
    header('Content-Type: application/json; charset=UTF-8');
    echo json_encode($answer, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
    return;
}

$file = realpath($_SERVER['DOCUMENT_ROOT'] . $path);
$root = realpath($_SERVER['DOCUMENT_ROOT']);
if ($file !== false && is_file($file) && str_starts_with($file, $root . '/') && !str_ends_with($file, '.php')
    && !str_contains($file, '/.standin/')) {
    return false;   // the built-in server sends the file
}
http_response_code(404);
header('Content-Type: text/plain; charset=UTF-8');
echo "404: $path\n";
