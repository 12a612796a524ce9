<?php
$MESS['BXPUSH_PULL_INSTALL_NO_PULL'] = 'The "Push and Pull" module (pull) is not installed. Install it first (Settings > Modules), then install bxpush.pull.';
$MESS['BXPUSH_PULL_INSTALL_OLD_UNREACHABLE'] = 'The previous push server (#URL#) could not be told to make open pages reload their configuration (#ERROR#); those pages switch to bxpush when reloaded.';
$MESS['BXPUSH_PULL_INSTALL_NEW_UNREACHABLE'] = 'bxpush does not answer at #URL# (#ERROR#): start bxpush serve with --listen-pub on that address.';
$MESS['BXPUSH_PULL_INSTALL_HTTP_ONLY'] = 'HTTP-only mode: the bxpush PHP extension is not loaded, so events sent while bxpush is down are lost. Load it (extension=bxpush, bxpush.server and bxpush.signature_key in php.ini) to have them spooled; no reinstall is needed.';
$MESS['BXPUSH_PULL_INSTALL_OLD_EXTENSION'] = 'The loaded bxpush PHP extension is too old for the transport shim (no BxPush\\send_pull_messages): events go over HTTP until it is updated.';
$MESS['BXPUSH_PULL_UNINSTALL_RESTORED_UNREACHABLE'] = 'The restored push server (#URL#) does not answer (#ERROR#): open pages switch to it when reloaded.';
$MESS['BXPUSH_PULL_UNINSTALL_NO_SNAPSHOT'] = 'No saved Push and Pull options were found, so they were left as they are: check them in Settings > Push and Pull.';
$MESS['BXPUSH_PULL_INSTALL_SITE_OVERRIDES'] = 'Some sites have their own values of Push and Pull options, which win over what was just written on those sites (#LIST#): remove them so those sites use bxpush too.';
