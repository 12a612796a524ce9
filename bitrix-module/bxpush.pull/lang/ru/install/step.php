<?php
$MESS['BXPUSH_PULL_STEP_REFUSED'] = 'bxpush.pull не установлен';
$MESS['BXPUSH_PULL_STEP_MODE_EXTENSION'] = 'PHP-расширение bxpush загружено: события сайта будут передаваться в bxpush через него (#SERVER#) и буферизоваться на диске, пока bxpush недоступен. Ключ подписи берётся из php.ini (bxpush.signature_key).';
$MESS['BXPUSH_PULL_STEP_MODE_HTTP'] = 'PHP-расширение bxpush не загружено: режим «только HTTP». Модуль pull будет отправлять события POST-запросами на адрес публикации bxpush, как с любым сервером; события, отправленные во время недоступности bxpush, теряются. Загрузите расширение (extension=bxpush), чтобы включить буферизацию.';
$MESS['BXPUSH_PULL_STEP_FIELD_LISTENER'] = 'Адрес long polling (http)';
$MESS['BXPUSH_PULL_STEP_FIELD_LISTENER_SECURE'] = 'Адрес long polling (https)';
$MESS['BXPUSH_PULL_STEP_FIELD_WEBSOCKET'] = 'Адрес WebSocket (ws)';
$MESS['BXPUSH_PULL_STEP_FIELD_WEBSOCKET_SECURE'] = 'Адрес WebSocket (wss)';
$MESS['BXPUSH_PULL_STEP_FIELD_PUBLISH'] = 'Адрес публикации для сервера (bxpush serve --listen-pub, только на loopback)';
$MESS['BXPUSH_PULL_STEP_FIELD_PUBLISH_WEB'] = 'Адрес публикации для клиентов (http)';
$MESS['BXPUSH_PULL_STEP_FIELD_PUBLISH_WEB_SECURE'] = 'Адрес публикации для клиентов (https)';
$MESS['BXPUSH_PULL_STEP_FIELD_SIGNATURE_KEY'] = 'Ключ подписи';
$MESS['BXPUSH_PULL_STEP_KEY_HINT_EXTENSION'] = 'Оставьте пустым, чтобы взять bxpush.signature_key из php.ini; если вводите — он должен совпадать с ним.';
$MESS['BXPUSH_PULL_STEP_KEY_HINT_HTTP'] = 'Обязательно: ключ, с которым запущен bxpush serve (его --signature-key, выводится при запуске).';
$MESS['BXPUSH_PULL_STEP_FIELD_SIGNATURE_ALGO'] = 'Алгоритм подписи';
$MESS['BXPUSH_PULL_STEP_SUBMIT'] = 'Установить';
