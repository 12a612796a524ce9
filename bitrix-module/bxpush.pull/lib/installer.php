<?php
// Install and uninstall without the pages (install/index.php only drives the steps):
// install  = check → snapshot the pull options it will change → write them → bump
//            config_timestamp, config_expire to the old and the new server → clear pull's
//            send-error state → handlers, agent, notices;
// uninstall = put the snapshot back exactly → config_timestamp, config_expire to bxpush and
//            to the restored server → remove handlers, agent, notices and own options.
// Both return a Result whose data has 'notes' (what the step page shows besides OK).

namespace Bxpush\Pull;

use Bitrix\Main\Config\Option;
use Bitrix\Main\Error;
use Bitrix\Main\Loader;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\Result;

Loc::loadMessages(__FILE__);

final class Installer
{
    public static function install(array $request): Result
    {
        $r = new Result();
        if (!Loader::includeModule('pull')) {
            return $r->addError(new Error(Loc::getMessage('BXPUSH_PULL_INSTALL_NO_PULL')));
        }
        $form = InstallForm::read($request);
        $check = InstallForm::validate($form);
        if (!$check->isSuccess()) {
            return $check;
        }
        $keys = KeyCheck::resolve($form['signature_key'], $form['signature_algo']);
        if (!$keys->isSuccess()) {
            return $keys;
        }
        $mode = Extension::loaded() ? 'extension' : 'http';
        $notes = [];

        // what the pages open now are connected to
        $oldPublish = \CPullOptions::GetQueueServerStatus() ? (string)\CPullOptions::GetPublishUrl() : '';
        $oldShared = ConfigSwitch::sharedChannel();
        $wasShared = \CPullOptions::IsServerShared();

        $target = PullOptions::target($form, $keys->getData()['key'], $keys->getData()['algo'], $wasShared);
        // A snapshot left by an earlier install (uninstall interrupted) holds the real
        // pre-bxpush values: keep them, add only names it lacks.
        $snapshot = (PullOptions::savedSnapshot() ?? []) + PullOptions::snapshot(array_keys($target));
        PullOptions::saveSnapshot($snapshot);   // before any write: a failure later can still be undone

        PullOptions::apply($target);
        $target['config_timestamp'] = ConfigSwitch::bumpTimestamp();
        PullOptions::saveWritten($target);
        Option::set(PullOptions::MODULE_ID, 'mode', $mode);
        \CAdminNotify::DeleteByTag('PULL_ERROR_SEND');   // pull's own "cannot send" notice of the old server

        $shared = ConfigSwitch::sharedChannel();
        if ($oldPublish !== '' && $oldShared !== null && $oldPublish !== $target['path_to_publish']) {
            $err = ConfigSwitch::notify($oldPublish, $oldShared);
            if ($err !== null) {
                $notes[] = Loc::getMessage('BXPUSH_PULL_INSTALL_OLD_UNREACHABLE', ['#URL#' => $oldPublish, '#ERROR#' => $err]);
            }
        }
        if ($shared !== null) {
            $err = ConfigSwitch::notify($target['path_to_publish'], $shared);
            if ($err !== null) {
                $notes[] = Loc::getMessage('BXPUSH_PULL_INSTALL_NEW_UNREACHABLE', ['#URL#' => $target['path_to_publish'], '#ERROR#' => $err]);
            }
        }

        $overrides = PullOptions::siteOverrides(array_keys($target));
        if ($overrides) {
            $notes[] = Loc::getMessage('BXPUSH_PULL_INSTALL_SITE_OVERRIDES', ['#LIST#' => implode(', ', $overrides)]);
        }
        Handlers::register();
        Agent::register();
        TransportCheck::reset();
        if ($mode === 'http') {
            Notices::set(Notices::HTTP_ONLY, Health::httpOnlyNotice());
            $notes[] = Loc::getMessage('BXPUSH_PULL_INSTALL_HTTP_ONLY');
        } elseif (!Extension::hasShimFunctions()) {
            $notes[] = Loc::getMessage('BXPUSH_PULL_INSTALL_OLD_EXTENSION');
        }
        return $r->setData(['mode' => $mode, 'notes' => $notes]);
    }

    public static function uninstall(): Result
    {
        $r = new Result();
        $notes = [];
        $pull = Loader::includeModule('pull');
        $snapshot = PullOptions::savedSnapshot();
        if ($pull && $snapshot !== null) {
            $bxpushPublish = (string)Option::get('pull', 'path_to_publish', '');
            $shared = ConfigSwitch::sharedChannel();
            $bxpushTimestamp = (int)Option::get('pull', 'config_timestamp', '0');
            PullOptions::restore($snapshot);
            ConfigSwitch::bumpTimestamp($bxpushTimestamp);
            if ($shared !== null && $bxpushPublish !== '') {
                ConfigSwitch::notify($bxpushPublish, $shared);   // pages on bxpush reload their config
            }
            $restoredShared = ConfigSwitch::sharedChannel();
            $restoredPublish = (string)\CPullOptions::GetPublishUrl();
            if ($restoredShared !== null && $restoredPublish !== $bxpushPublish) {
                $err = ConfigSwitch::notify($restoredPublish, $restoredShared);
                if ($err !== null) {
                    $notes[] = Loc::getMessage('BXPUSH_PULL_UNINSTALL_RESTORED_UNREACHABLE', ['#URL#' => $restoredPublish, '#ERROR#' => $err]);
                }
            }
        } else {
            $notes[] = Loc::getMessage('BXPUSH_PULL_UNINSTALL_NO_SNAPSHOT');
        }
        Handlers::unregister();
        Agent::unregister();
        Notices::clearAll();
        Option::delete(PullOptions::MODULE_ID);
        return $r->setData(['notes' => $notes]);
    }
}
