<?php
// "Send test event": one pull message to the signed-in admin through the site's own sender
// (\Bitrix\Pull\Event), so it takes exactly the path every other module's event takes
// (the transport shim when it is active, else the pull module's HTTP transport).

namespace Bxpush\Pull\Settings;

use Bitrix\Main\Error;
use Bitrix\Main\Loader;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\Result;

Loc::loadMessages(__FILE__);

final class TestEvent
{
    public const MODULE_ID = 'bxpush.pull';
    public const COMMAND = 'test';
    public const EXPIRY = 60;
    public const NONCE_PATTERN = '/^[A-Za-z0-9]{8,64}$/';

    /**
     * Queues the test message for `$userId` and sends it now. The result's data:
     * `nonce`, `sent` (ms timestamp put into the message), `userId`, `delivered` (what the
     * transport said: true, or false with `errors`), `shim` (whether the shim carried it).
     */
    public static function send(int $userId, string $nonce): Result
    {
        $result = new Result();
        if ($userId <= 0) {
            $result->addError(new Error((string)Loc::getMessage('BXPUSH_PULL_TEST_ERR_NO_USER'), 'NO_USER'));
            return $result;
        }
        if (!preg_match(self::NONCE_PATTERN, $nonce)) {
            $result->addError(new Error((string)Loc::getMessage('BXPUSH_PULL_TEST_ERR_NONCE'), 'BAD_NONCE'));
            return $result;
        }
        if (!Loader::includeModule('pull') || !class_exists('Bitrix\\Pull\\Event')) {
            $result->addError(new Error((string)Loc::getMessage('BXPUSH_PULL_TEST_ERR_NO_PULL'), 'NO_PULL'));
            return $result;
        }
        $sent = (int)round(microtime(true) * 1000);
        $added = \Bitrix\Pull\Event::add($userId, [
            'module_id' => self::MODULE_ID,
            'command' => self::COMMAND,
            'params' => ['sent' => $sent, 'nonce' => $nonce],
            'expiry' => self::EXPIRY,
        ]);
        if (!$added) {
            $why = method_exists('Bitrix\\Pull\\Event', 'getLastError') ? \Bitrix\Pull\Event::getLastError() : null;
            $why = is_object($why) && method_exists($why, 'getMessage') ? $why->getMessage() : (string)$why;
            $message = (string)Loc::getMessage('BXPUSH_PULL_TEST_ERR_ADD', ['#ERROR#' => $why !== '' ? $why : '-']);
            ErrorLog::add('test', $message);
            $result->addError(new Error($message, 'ADD_FAILED'));
            return $result;
        }

        $delivered = true;
        $errors = [];
        if (method_exists('Bitrix\\Pull\\Event', 'executeEvents')) {
            try {
                $tr = \Bitrix\Pull\Event::executeEvents();
                if (is_object($tr) && method_exists($tr, 'isSuccess') && !$tr->isSuccess()) {
                    $delivered = false;
                    foreach ($tr->getErrors() as $e) {
                        $errors[] = ErrorLog::redact(is_object($e) && method_exists($e, 'getMessage') ? $e->getMessage() : (string)$e);
                    }
                }
            } catch (\Throwable $e) {
                $delivered = false;
                $errors[] = ErrorLog::redact($e->getMessage());
            }
        } else {
            \Bitrix\Pull\Event::send();
        }
        if (!$delivered) {
            ErrorLog::add('test', (string)Loc::getMessage('BXPUSH_PULL_TEST_ERR_TRANSPORT', [
                '#ERROR#' => $errors !== [] ? implode('; ', $errors) : '-',
            ]));
        }
        $result->setData([
            'nonce' => $nonce,
            'sent' => $sent,
            'userId' => $userId,
            'delivered' => $delivered,
            'errors' => $errors,
            'shim' => Status::shimActive(),
            'timeout' => Form::testTimeout(),
        ]);
        return $result;
    }
}
