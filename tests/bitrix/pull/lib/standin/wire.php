<?php

namespace Bitrix\Pull\StandIn;

/**
 * Protocol Buffers for the stand-in's HTTP transport (our encoder, shaped by
 * pull-transport-vectors.md §4): proto2 field order, varints, length-delimited fields, and
 * a generic decoder for ResponseBatch.
 */
final class Wire
{
    public static function varint(int $v): string
    {
        if ($v < 0 && !extension_loaded('gmp') && !extension_loaded('bcmath')) {
            // what the bundled protobuf library does without gmp/bcmath (vectors case i2)
            throw new \RuntimeException('Negative integers are only supported with GMP or BC (64bit) intextensions.');
        }
        $out = '';
        for ($i = 0; $i < 10; $i++) {
            $byte = $v & 0x7f;
            $v = ($v >> 7) & (PHP_INT_MAX >> 6);   // logical shift: negative numbers take 10 bytes
            if ($v === 0) {
                return $out . chr($byte);
            }
            $out .= chr($byte | 0x80);
        }
        return $out;
    }

    public static function len(int $field, string $bytes): string
    {
        return self::varint(($field << 3) | 2) . self::varint(strlen($bytes)) . $bytes;
    }

    public static function int(int $field, int $v): string
    {
        return self::varint($field << 3) . self::varint($v);
    }

    /** IncomingMessage: receivers (id, isPrivate), body, expiry, type. */
    public static function incomingMessage(array $channelIds, string $body, int $expiry, string $type): string
    {
        $out = '';
        foreach ($channelIds as $hex) {
            $out .= self::len(1, self::len(1, hex2bin($hex)) . self::int(2, 1));
        }
        return $out . self::len(3, $body) . self::int(4, $expiry) . self::len(5, $type);
    }

    /** RequestBatch holding one Request{incomingMessages: {messages}} (an empty list gives an empty request). */
    public static function publishBatch(array $encodedMessages): string
    {
        $msgs = '';
        foreach ($encodedMessages as $m) {
            $msgs .= self::len(1, $m);
        }
        return self::len(1, self::len(1, $msgs));
    }

    /** RequestBatch{requests[0].channelStats.channels = [{id, isPrivate: true}, …]}. */
    public static function channelStatsBatch(array $channelIds): string
    {
        $chs = '';
        foreach ($channelIds as $hex) {
            $chs .= self::len(1, self::len(1, hex2bin($hex)) . self::int(2, 1));
        }
        return self::len(1, self::len(2, $chs));
    }

    /** Fields of one message: list of [field number, value] (varint as int, length-delimited as string). */
    public static function decode(string $buf): array
    {
        $out = [];
        $pos = 0;
        $n = strlen($buf);
        while ($pos < $n) {
            $key = self::readVarint($buf, $pos);
            $field = $key >> 3;
            $wt = $key & 7;
            if ($field === 0) {
                throw new \UnexpectedValueException('protobuf: field 0');
            }
            if ($wt === 0) {
                $out[] = [$field, self::readVarint($buf, $pos)];
            } elseif ($wt === 2) {
                $l = self::readVarint($buf, $pos);
                if ($l < 0 || $pos + $l > $n) {
                    throw new \UnexpectedValueException('protobuf: truncated');
                }
                $out[] = [$field, substr($buf, $pos, $l)];
                $pos += $l;
            } elseif ($wt === 5) {
                $out[] = [$field, substr($buf, $pos, 4)];
                $pos += 4;
            } elseif ($wt === 1) {
                $out[] = [$field, substr($buf, $pos, 8)];
                $pos += 8;
            } else {
                throw new \UnexpectedValueException("protobuf: wire type $wt");
            }
            if ($pos > $n) {
                throw new \UnexpectedValueException('protobuf: truncated');
            }
        }
        return $out;
    }

    private static function readVarint(string $buf, int &$pos): int
    {
        $v = 0;
        for ($shift = 0; $shift < 64; $shift += 7) {
            if ($pos >= strlen($buf)) {
                throw new \UnexpectedValueException('protobuf: truncated varint');
            }
            $b = ord($buf[$pos++]);
            $v |= ($b & 0x7f) << $shift;
            if (($b & 0x80) === 0) {
                return $v;
            }
        }
        throw new \UnexpectedValueException('protobuf: varint too long');
    }
}
