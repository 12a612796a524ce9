<?php
$MESS['BXPUSH_PULL_STATUS_BAD_STATS'] = 'сервер ответил не объектом состояния';
$MESS['BXPUSH_PULL_STATUS_SPOOL_UNREADABLE'] = 'не удаётся прочитать каталог очереди #DIR#: дайте пользователю веб-сервера право на чтение';
$MESS['BXPUSH_PULL_PROBLEM_NO_EXTENSION'] = 'Расширение PHP bxpush не загружено: события уходят по HTTP и теряются, пока сервер недоступен. Выполните make install (или добавьте extension=bxpush в php.ini) и перезапустите PHP-FPM.';
$MESS['BXPUSH_PULL_PROBLEM_RUNTIME_DOWN'] = 'Сервер не отвечает по адресу #SERVER#: запустите bxpush serve с --listen-php #SERVER# (systemctl start bxpush) или исправьте bxpush.server в php.ini. (#ERROR#)';
$MESS['BXPUSH_PULL_PROBLEM_EXT_KEY_EMPTY'] = 'bxpush.signature_key в php.ini пустой: задайте ключ с вкладки «Ключ подписи» и перезапустите PHP-FPM.';
$MESS['BXPUSH_PULL_PROBLEM_PULL_DISABLED'] = 'Push-сервер в модуле pull выключен (опция nginx = N), поэтому ничего не отправляется: переустановите bxpush.pull или включите push-сервер в настройках модуля pull.';
$MESS['BXPUSH_PULL_PROBLEM_PULL_VERSION'] = 'В модуле pull указана версия push-сервера #VERSION#, а bxpush нужна 4: переустановите bxpush.pull.';
$MESS['BXPUSH_PULL_PROBLEM_KEY_MISMATCH'] = 'Ключ подписи модуля pull отличается от bxpush.signature_key в PHP, и браузеры получают отказ: сделайте их одинаковыми (вкладка «Ключ подписи») и перезапустите PHP-FPM и bxpush.';
$MESS['BXPUSH_PULL_PROBLEM_ALGO_MISMATCH'] = 'Модуль pull подписывает с #ALGO#, расширение PHP — с #EXT_ALGO#: сделайте их одинаковыми на вкладке «Ключ подписи» или в php.ini.';
$MESS['BXPUSH_PULL_PROBLEM_SPOOL_BACKLOG'] = 'В #DIR# ждут пакетов: #FILES#, хотя сервер отвечает: они уйдут со следующей отправкой любого воркера; если число не уменьшается, проверьте, что у bxpush serve и PHP-FPM один ключ подписи.';
$MESS['BXPUSH_PULL_PROBLEM_SPOOL_BAD'] = 'Повреждённых файлов очереди (*.bad) в #DIR#: #COUNT#; они отложены и не будут отправлены: изучите их и удалите.';
$MESS['BXPUSH_PULL_STATUS_NO_PUBLISH_URL'] = 'в адресе публикации модуля pull нет хоста, поэтому /server-stat/ не запросить: задайте его на вкладке «Адреса и транспорты»';
$MESS['BXPUSH_PULL_PROBLEM_RUNTIME_DOWN_HTTP'] = 'Сервер не отвечает по адресу публикации: запустите bxpush serve (systemctl start bxpush) с --listen-pub на этом адресе или исправьте «Публикация (PHP)» на вкладке «Адреса и транспорты». (#ERROR#)';
