<?php
$MESS['BXPUSH_PULL_STEP2_MODE_EXTENSION'] = 'Модуль Push and Pull теперь работает с bxpush; события сайта идут через PHP-расширение bxpush.';
$MESS['BXPUSH_PULL_STEP2_MODE_HTTP'] = 'Модуль Push and Pull теперь работает с bxpush только по HTTP. Загрузите PHP-расширение bxpush, чтобы не терять события, отправленные во время недоступности bxpush.';
$MESS['BXPUSH_PULL_STEP2_SETTINGS'] = 'Открыть настройки и состояние bxpush.pull';
