<?php

namespace Bxpush\Pull;

/** pull:OnGetDependentModule — the module uses pull's JS client on admin pages. */
final class Dependency
{
    public static function onGetDependentModule(): array
    {
        return ['MODULE_ID' => PullOptions::MODULE_ID, 'USE' => ['ADMIN_SECTION']];
    }
}
