<?php
$MESS['BXPUSH_PULL_MODULE_NAME'] = 'bxpush: сервер Push & Pull';
$MESS['BXPUSH_PULL_MODULE_DESCRIPTION'] = 'Направляет модуль Push and Pull на сервер bxpush и отправляет события сайта через PHP-расширение bxpush (с буферизацией на диск, пока сервер недоступен).';
$MESS['BXPUSH_PULL_PARTNER_NAME'] = 'bxpush';
$MESS['BXPUSH_PULL_INSTALL_NO_PULL'] = 'Модуль «Push and Pull» (pull) не установлен. Сначала установите его (Настройки > Модули), затем bxpush.pull.';
$MESS['BXPUSH_PULL_INSTALL_TITLE'] = 'Установка bxpush.pull';
$MESS['BXPUSH_PULL_UNINSTALL_TITLE'] = 'Удаление bxpush.pull';
$MESS['BXPUSH_PULL_SESSION_EXPIRED'] = 'Сессия истекла. Откройте список модулей заново и повторите шаг.';
