<?php
$MESS['BXPUSH_PULL_MODULE_NAME'] = 'bxpush: Push & Pull server';
$MESS['BXPUSH_PULL_MODULE_DESCRIPTION'] = 'Points the Push and Pull module at the bxpush server and sends the site\'s pull events through the bxpush PHP extension (spooled while the server is down).';
$MESS['BXPUSH_PULL_PARTNER_NAME'] = 'bxpush';
$MESS['BXPUSH_PULL_INSTALL_NO_PULL'] = 'The "Push and Pull" module (pull) is not installed. Install it first (Settings > Modules), then install bxpush.pull.';
$MESS['BXPUSH_PULL_INSTALL_TITLE'] = 'Installing bxpush.pull';
$MESS['BXPUSH_PULL_UNINSTALL_TITLE'] = 'Uninstalling bxpush.pull';
$MESS['BXPUSH_PULL_SESSION_EXPIRED'] = 'Your session has expired. Open the module list again and repeat the step.';
