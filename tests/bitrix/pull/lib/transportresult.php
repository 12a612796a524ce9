<?php

namespace Bitrix\Pull;

/** What a transport returns: a Result with the address it sent to. */
class TransportResult extends \Bitrix\Main\Result
{
    protected $remoteAddress = '';

    public function getRemoteAddress(): string
    {
        return $this->remoteAddress;
    }

    public function withRemoteAddress(string $remoteAddress): TransportResult
    {
        $this->remoteAddress = $remoteAddress;
        return $this;
    }
}
