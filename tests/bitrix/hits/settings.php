<?php
// The settings page of bxpush.pull in one hit, without a browser (args 'op'):
//   validate / save  Settings\Form on 'values' (a submitted form)  → ok, errors [{code, message}], db facts
//   status           Settings\Status::collect()
//   errorlog         'n' failures added to Settings\ErrorLog       → all entries
//   option           Option::set('module', 'name', 'value')
//   page             options.php as the kernel's settings.php runs it ('request' = the POST)
//                    → redirect (LocalRedirect URL or null), html
//   ajax             /bitrix/services/main/ajax.php: 'action', 'method' (default POST), the
//                    request's fields as parameters → the JSON answer
require __DIR__ . '/boot.php';

use Bitrix\Main\Config\Option;
use Bitrix\Main\Loader;
use Bxpush\Pull\PullOptions;
use Bxpush\Pull\Settings\ErrorLog;
use Bxpush\Pull\Settings\Form;
use Bxpush\Pull\Settings\Status;

Loader::includeModule('bxpush.pull');
$errors = fn ($r) => array_map(fn ($e) => ['code' => $e->getCode(), 'message' => $e->getMessage()], $r->getErrors());

switch ($HIT['op']) {
    case 'validate':
        $r = Form::validate(Form::read($HIT['values'] ?? []));
        hit_result(['ok' => $r->isSuccess(), 'errors' => $errors($r)]);
        break;

    case 'save':
        $r = Form::save(Form::read($HIT['values'] ?? []));
        hit_result([
            'ok' => $r->isSuccess(),
            'errors' => $errors($r),
            'changed' => $r->isSuccess() ? $r->getData()['changed'] : null,
            'written' => PullOptions::written(),
            'drift' => PullOptions::drift(),
            'config_timestamp' => Option::get('pull', 'config_timestamp', ''),
        ]);
        break;

    case 'option':
        Option::set($HIT['module'], $HIT['name'], $HIT['value']);
        hit_result(['ok' => true]);
        break;

    case 'status':
        hit_result(Status::collect());
        break;

    case 'errorlog':
        for ($i = 0; $i < (int)$HIT['n']; $i++) {
            ErrorLog::add('test', "failure $i (key " . ini_get('bxpush.signature_key') . ')');
        }
        hit_result(['all' => ErrorLog::all()]);
        break;

    case 'page':
        $_SERVER['REQUEST_URI'] = '/bitrix/admin/settings.php?mid=bxpush.pull&lang=' . LANGUAGE_ID;
        $_GET = ['mid' => 'bxpush.pull', 'lang' => LANGUAGE_ID] + ($HIT['get'] ?? []);
        $_REQUEST = $_GET + $_REQUEST;
        $_SERVER['REQUEST_METHOD'] = isset($HIT['request']) ? 'POST' : 'GET';
        $redirect = null;
        ob_start();
        try {
            include Loader::getLocal('modules/bxpush.pull/options.php');   // global scope, as settings.php
        } catch (BxStandin\LocalRedirectCalled $e) {
            $redirect = $e->url;
        }
        hit_result(['redirect' => $redirect, 'html' => ob_get_clean()]);
        break;

    case 'ajax':
        $_SERVER['REQUEST_METHOD'] = $HIT['method'] ?? 'POST';
        $params = $_REQUEST;
        hit_result(BxStandin\AjaxRouter::dispatch($HIT['action'], $params));
        break;

    default:
        hit_result(['error' => 'unknown op']);
}
