<?php
// Which signature key and algorithm install writes into the pull module, and the refusals.
// With the extension loaded they are the extension's (php.ini bxpush.signature_key /
// bxpush.signature_algo, which must equal `bxpush serve --signature-key/--signature-algo`);
// without it ("HTTP-only") the admin enters the key bxpush serve uses.

namespace Bxpush\Pull;

use Bitrix\Main\Error;
use Bitrix\Main\Localization\Loc;
use Bitrix\Main\Result;

Loc::loadMessages(__FILE__);

final class KeyCheck
{
    /** Result data on success: ['key' => …, 'algo' => …]. Messages never contain a key. */
    public static function resolve(string $formKey, string $formAlgo): Result
    {
        $r = new Result();
        if (!Extension::loaded()) {
            if ($formKey === '') {
                return $r->addError(new Error(Loc::getMessage('BXPUSH_PULL_KEY_EMPTY_HTTP'), 'signature_key'));
            }
            return $r->setData(['key' => $formKey, 'algo' => $formAlgo]);
        }
        $iniKey = Extension::signatureKey();
        $iniAlgo = Extension::signatureAlgo();
        if ($iniKey === '') {
            return $r->addError(new Error(Loc::getMessage('BXPUSH_PULL_KEY_EMPTY_INI'), 'signature_key'));
        }
        if ($formKey !== '' && !hash_equals($iniKey, $formKey)) {
            $r->addError(new Error(Loc::getMessage('BXPUSH_PULL_KEY_MISMATCH'), 'signature_key'));
        }
        if ($formAlgo !== $iniAlgo) {
            $r->addError(new Error(Loc::getMessage('BXPUSH_PULL_ALGO_MISMATCH', ['#INI#' => $iniAlgo, '#FORM#' => $formAlgo]), 'signature_algo'));
        }
        return $r->isSuccess() ? $r->setData(['key' => $iniKey, 'algo' => $iniAlgo]) : $r;
    }
}
