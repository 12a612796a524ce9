<?php
// AJAX actions of the settings page:
//   bxpush:pull.settings.status    live status (Settings\Status::collect)
//   bxpush:pull.settings.sendTest  one test event to the signed-in admin (Settings\TestEvent)
// Both: signed-in user, POST, CSRF token (sessid or X-Bitrix-Csrf-Token), and the module's
// right: R for status, W for the test event (administrators always have W).

namespace Bxpush\Pull\Controller;

use Bitrix\Main\Engine\ActionFilter\Authentication;
use Bitrix\Main\Engine\ActionFilter\Csrf;
use Bitrix\Main\Engine\ActionFilter\HttpMethod;
use Bitrix\Main\Error;
use Bitrix\Main\Localization\Loc;
use Bxpush\Pull\Settings\Status;
use Bxpush\Pull\Settings\TestEvent;

Loc::loadMessages(__FILE__);

class Settings extends \Bitrix\Main\Engine\Controller
{
    public const MODULE_ID = 'bxpush.pull';

    public function configureActions(): array
    {
        $filters = fn () => [
            'prefilters' => [
                new Authentication(),
                new HttpMethod([HttpMethod::METHOD_POST]),
                new Csrf(),
            ],
        ];
        return ['status' => $filters(), 'sendTest' => $filters()];
    }

    public function statusAction(): ?array
    {
        if (!$this->allowed('R')) {
            return null;
        }
        return Status::collect();
    }

    public function sendTestAction(string $nonce = ''): ?array
    {
        if (!$this->allowed('W')) {
            return null;
        }
        global $USER;
        $userId = is_object($USER) ? (int)$USER->GetID() : 0;
        $result = TestEvent::send($userId, $nonce);
        if (!$result->isSuccess()) {
            foreach ($result->getErrors() as $e) {
                $this->addError($e);
            }
            return null;
        }
        return $result->getData() + ['status' => Status::collect()];
    }

    /** The module's right of the current user is at least `$letter` ('D' < 'R' < 'W'). */
    private function allowed(string $letter): bool
    {
        global $APPLICATION, $USER;
        $right = 'D';
        if (is_object($USER) && $USER->IsAdmin()) {
            $right = 'W';
        } elseif (is_object($APPLICATION)) {
            $right = (string)$APPLICATION->GetGroupRight(self::MODULE_ID);
        }
        if ($right < $letter) {
            $this->addError(new Error((string)Loc::getMessage('BXPUSH_PULL_CONTROLLER_ACCESS_DENIED'), 'ACCESS_DENIED'));
            return false;
        }
        return true;
    }
}
