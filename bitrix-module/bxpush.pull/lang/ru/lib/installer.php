<?php
$MESS['BXPUSH_PULL_INSTALL_NO_PULL'] = 'Модуль «Push and Pull» (pull) не установлен. Сначала установите его (Настройки > Модули), затем bxpush.pull.';
$MESS['BXPUSH_PULL_INSTALL_OLD_UNREACHABLE'] = 'Прежнему серверу (#URL#) не удалось передать команду перечитать настройки открытым страницам (#ERROR#); эти страницы перейдут на bxpush после перезагрузки.';
$MESS['BXPUSH_PULL_INSTALL_NEW_UNREACHABLE'] = 'bxpush не отвечает по адресу #URL# (#ERROR#): запустите bxpush serve с --listen-pub на этом адресе.';
$MESS['BXPUSH_PULL_INSTALL_HTTP_ONLY'] = 'Режим «только HTTP»: PHP-расширение bxpush не загружено, поэтому события, отправленные во время недоступности bxpush, теряются. Загрузите его (extension=bxpush, bxpush.server и bxpush.signature_key в php.ini) — переустанавливать модуль не нужно.';
$MESS['BXPUSH_PULL_INSTALL_OLD_EXTENSION'] = 'Загруженное PHP-расширение bxpush слишком старое для подмены транспорта (нет BxPush\\send_pull_messages): события идут по HTTP, пока его не обновят.';
$MESS['BXPUSH_PULL_UNINSTALL_RESTORED_UNREACHABLE'] = 'Восстановленный сервер (#URL#) не отвечает (#ERROR#): открытые страницы перейдут на него после перезагрузки.';
$MESS['BXPUSH_PULL_UNINSTALL_NO_SNAPSHOT'] = 'Сохранённые параметры Push and Pull не найдены, поэтому они оставлены как есть: проверьте их в Настройки > Push and Pull.';
$MESS['BXPUSH_PULL_INSTALL_SITE_OVERRIDES'] = 'У некоторых сайтов есть собственные значения параметров Push and Pull, и на этих сайтах они важнее только что записанных (#LIST#): удалите их, чтобы и эти сайты работали с bxpush.';
