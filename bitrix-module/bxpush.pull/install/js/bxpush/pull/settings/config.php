<?php
// CoreJS extension `bxpush.pull.settings`: the settings page's script and styles. The page
// loads `pull.client` itself (BX.PULL); this extension needs nothing from BX core.

if (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {
    die();
}

return [
    'css' => 'style.css',
    'js' => 'script.js',
    'rel' => [],
    'skip_core' => true,
];
