<?php
// The transport shim: the pull module's \Bitrix\Pull\ProtobufTransport with the same public
// static API, declared by Bxpush\Pull\ShimLoader (never autoloaded: this file's class is not
// under the module's namespace). The work is done by Bxpush\Pull\Shim\Sender.

namespace Bitrix\Pull;

class ProtobufTransport
{
    /** Marks the class as bxpush.pull's (status page, tests). */
    public const BXPUSH_SHIM = true;

    public static function sendMessages(array $messages, array $options = []): TransportResult
    {
        return \Bxpush\Pull\Shim\Sender::sendMessages($messages, $options);
    }

    public static function getOnlineChannels(array $channels)
    {
        return \Bxpush\Pull\Shim\Sender::getOnlineChannels($channels);
    }
}
