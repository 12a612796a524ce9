<?php
// main:OnPageStart handler: declares the transport shim before anything of the hit can send
// (the pull module's queue flushes at the end of the hit at the earliest), so the pull
// module's own lib/protobuftransport.php is never autoloaded. When the shim may not be
// declared (TransportCheck), nothing happens and pull POSTs to path_to_publish as before.

namespace Bxpush\Pull;

final class ShimLoader
{
    public static function onPageStart(): void
    {
        if (TransportCheck::shimAllowed()) {
            require_once __DIR__ . '/shim/protobuftransport.php';
        }
    }

    /** Whether this hit runs with the shim (the class is ours). */
    public static function active(): bool
    {
        return class_exists('Bitrix\\Pull\\ProtobufTransport', false)
            && defined('Bitrix\\Pull\\ProtobufTransport::BXPUSH_SHIM');
    }
}
