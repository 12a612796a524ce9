<?php
// Like vector.php, but with a recording \Bitrix\Pull\ProtobufTransport declared first (run
// without the extension, so nothing else declares it): reports the exact $messages and
// $options the stand-in pull module's flush passes, as var_export text and as JSON.
$GLOBALS['BX_RECORDED'] = [];
require __DIR__ . '/boot.php';

if (!class_exists('Bitrix\\Pull\\ProtobufTransport', false)) {
    eval('namespace Bitrix\Pull; class ProtobufTransport {
        public static function sendMessages(array $messages, array $options = []): TransportResult {
            $GLOBALS["BX_RECORDED"][] = [$messages, $options];
            return (new TransportResult())->withRemoteAddress("recorder");
        }
        public static function getOnlineChannels(array $channels) { return []; }
    }');
}
ob_start();
require __DIR__ . '/vector.php';
ob_end_clean();
$calls = array_map(fn($c) => [
    'messages_json' => json_encode(array_values($c[0]), JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION | JSON_PARTIAL_OUTPUT_ON_ERROR),
    'options' => $c[1],
], $GLOBALS['BX_RECORDED']);
hit_result(['calls' => $calls]);
