<?php
$MESS['BXPUSH_PULL_TEST_ERR_NO_USER'] = 'Войдите, чтобы отправить тестовое событие: оно отправляется вошедшему пользователю.';
$MESS['BXPUSH_PULL_TEST_ERR_NONCE'] = 'В запросе нет правильного nonce (от 8 до 64 латинских букв и цифр): обновите страницу и попробуйте снова.';
$MESS['BXPUSH_PULL_TEST_ERR_NO_PULL'] = 'Модуль pull не установлен: установите его («Настройки → Модули»), события отправляет он.';
$MESS['BXPUSH_PULL_TEST_ERR_ADD'] = 'Модуль pull отклонил тестовое событие: #ERROR#';
$MESS['BXPUSH_PULL_TEST_ERR_TRANSPORT'] = 'Не удалось передать тестовое событие: #ERROR#';
