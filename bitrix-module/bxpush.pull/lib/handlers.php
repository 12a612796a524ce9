<?php
// The module's persistent event handlers: registered by install, removed by uninstall with
// exactly the same strings (a different string would leave the row behind).

namespace Bxpush\Pull;

use Bitrix\Main\EventManager;

final class Handlers
{
    public const LIST = [
        // before any pull send of the hit: declare the transport shim
        ['main', 'OnPageStart', ShimLoader::class, 'onPageStart', 1],
        // lets pull start its JS client on admin pages too (the settings page uses it)
        ['pull', 'OnGetDependentModule', Dependency::class, 'onGetDependentModule', 100],
    ];

    public static function register(): void
    {
        $em = EventManager::getInstance();
        foreach (self::LIST as [$from, $event, $class, $method, $sort]) {
            $em->registerEventHandlerCompatible($from, $event, PullOptions::MODULE_ID, '\\' . $class, $method, $sort);
        }
    }

    public static function unregister(): void
    {
        $em = EventManager::getInstance();
        foreach (self::LIST as [$from, $event, $class, $method]) {
            $em->unRegisterEventHandler($from, $event, PullOptions::MODULE_ID, '\\' . $class, $method);
        }
    }
}
