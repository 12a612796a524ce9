<?php
$MESS['BXPUSH_PULL_STEP2_MODE_EXTENSION'] = 'The Push and Pull module now uses bxpush; the site\'s events go through the bxpush PHP extension.';
$MESS['BXPUSH_PULL_STEP2_MODE_HTTP'] = 'The Push and Pull module now uses bxpush over HTTP only. Load the bxpush PHP extension to keep events that are sent while bxpush is down.';
$MESS['BXPUSH_PULL_STEP2_SETTINGS'] = 'Open the bxpush.pull settings and status page';
