<?php
// The health agent (every 10 minutes): turns Health::problems() into admin notices, and
// removes each notice once its problem is gone.

namespace Bxpush\Pull;

use Bitrix\Main\Config\Option;

final class Agent
{
    public const NAME = '\\Bxpush\\Pull\\Agent::check();';

    public static function check(): string
    {
        Notices::sync(Health::problems());
        return self::NAME;
    }

    public static function register(): void
    {
        $interval = max(60, (int)Option::get(PullOptions::MODULE_ID, 'agent_interval', '600'));
        \CAgent::AddAgent(self::NAME, PullOptions::MODULE_ID, 'N', $interval, '', 'Y', '', 100, false, false);
    }

    public static function unregister(): void
    {
        \CAgent::RemoveModuleAgents(PullOptions::MODULE_ID);
    }
}
