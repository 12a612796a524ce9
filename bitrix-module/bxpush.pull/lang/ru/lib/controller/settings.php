<?php
$MESS['BXPUSH_PULL_CONTROLLER_ACCESS_DENIED'] = 'Доступ запрещён: нужно право на изменение настроек bxpush.pull. Обратитесь к администратору.';
