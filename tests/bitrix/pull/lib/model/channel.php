<?php

namespace Bitrix\Pull\Model;

/** A recipient given as a channel object (Event::add accepts them; vectors case e2). */
class Channel
{
    private string $privateId;
    private string $publicId = '';
    private string $type = 'private';

    public function __construct(string $privateId)
    {
        $this->privateId = $privateId;
    }

    /** A channel for a tag: md5 of the tag (the stand-in has no server unique id). */
    public static function createWithTag(string $tag): self
    {
        $c = new self(md5($tag));
        $c->type = 'tag';
        return $c;
    }

    public static function createWithFields(array $fields): self
    {
        $c = new self((string)$fields['privateId']);
        $c->publicId = (string)($fields['publicId'] ?? '');
        $c->type = (string)($fields['type'] ?? 'private');
        return $c;
    }

    public function getPrivateId(): string
    {
        return $this->privateId;
    }

    public function getPublicId(): string
    {
        return $this->publicId;
    }

    public function getType(): string
    {
        return $this->type;
    }
}
