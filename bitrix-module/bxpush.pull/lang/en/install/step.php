<?php
$MESS['BXPUSH_PULL_STEP_REFUSED'] = 'bxpush.pull was not installed';
$MESS['BXPUSH_PULL_STEP_MODE_EXTENSION'] = 'The bxpush PHP extension is loaded: the site\'s pull events will be handed to bxpush through it (#SERVER#), spooled on disk while bxpush is down. The signature key is the one of php.ini (bxpush.signature_key).';
$MESS['BXPUSH_PULL_STEP_MODE_HTTP'] = 'The bxpush PHP extension is not loaded: HTTP-only mode. The pull module will POST its events to bxpush\'s publish URL, as with any push server; events sent while bxpush is down are lost. Load the extension (extension=bxpush) to add spooling.';
$MESS['BXPUSH_PULL_STEP_FIELD_LISTENER'] = 'Long polling URL (http)';
$MESS['BXPUSH_PULL_STEP_FIELD_LISTENER_SECURE'] = 'Long polling URL (https)';
$MESS['BXPUSH_PULL_STEP_FIELD_WEBSOCKET'] = 'WebSocket URL (ws)';
$MESS['BXPUSH_PULL_STEP_FIELD_WEBSOCKET_SECURE'] = 'WebSocket URL (wss)';
$MESS['BXPUSH_PULL_STEP_FIELD_PUBLISH'] = 'Publish URL for the server side (bxpush serve --listen-pub, keep it on loopback)';
$MESS['BXPUSH_PULL_STEP_FIELD_PUBLISH_WEB'] = 'Client publish URL (http)';
$MESS['BXPUSH_PULL_STEP_FIELD_PUBLISH_WEB_SECURE'] = 'Client publish URL (https)';
$MESS['BXPUSH_PULL_STEP_FIELD_SIGNATURE_KEY'] = 'Signature key';
$MESS['BXPUSH_PULL_STEP_KEY_HINT_EXTENSION'] = 'Leave empty to use bxpush.signature_key of php.ini; if you enter one, it must be that key.';
$MESS['BXPUSH_PULL_STEP_KEY_HINT_HTTP'] = 'Required: the key bxpush serve uses (its --signature-key, printed when it starts).';
$MESS['BXPUSH_PULL_STEP_FIELD_SIGNATURE_ALGO'] = 'Signature algorithm';
$MESS['BXPUSH_PULL_STEP_SUBMIT'] = 'Install';
