<?php
// Module configuration, read by the kernel through Configuration::getInstance('bxpush.pull')
// while the module is installed.
//   controllers: AJAX actions bxpush:pull.<controller>.<action> are classes of
//                \Bxpush\Pull\Controller (lib/controller/), e.g. bxpush:pull.settings.status.

return [
    'controllers' => [
        'value' => [
            'defaultNamespace' => '\\Bxpush\\Pull\\Controller',
        ],
        'readonly' => true,
    ],
];
