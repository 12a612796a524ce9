<?php
// Stand-in `pull` module (tests only): the classes bxpush.pull and its tests call, with the
// behaviour described in ../../../../shared/spec/bitrix-module-notes.md §6–7 and
// pull-transport-vectors.md. Not Bitrix code.
if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

\Bitrix\Main\Loader::registerAutoLoadClasses('pull', [
    'CPullOptions' => 'classes/general/pull_options.php',
    'CPullChannel' => 'classes/general/pull_channel.php',
    'CPullStack' => 'classes/general/pull_stack.php',
    'CPullWatch' => 'classes/general/pull_watch.php',
]);

return true;
