<?php
$MESS['BXPUSH_PULL_UNSTEP2_DONE'] = 'Параметры Push and Pull возвращены к значениям до установки bxpush.pull.';
