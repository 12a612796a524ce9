<?php
$MESS['BXPUSH_PULL_STATUS_BAD_STATS'] = 'the runtime answered with something that is not a status object';
$MESS['BXPUSH_PULL_STATUS_SPOOL_UNREADABLE'] = 'cannot read the spool directory #DIR#: give the web server user read access to it';
$MESS['BXPUSH_PULL_PROBLEM_NO_EXTENSION'] = 'The PHP extension bxpush is not loaded: sends go over HTTP and are lost while the runtime is down. Run make install (or add extension=bxpush to php.ini) and restart PHP-FPM.';
$MESS['BXPUSH_PULL_PROBLEM_RUNTIME_DOWN'] = 'The runtime does not answer at #SERVER#: start bxpush serve with --listen-php #SERVER# (systemctl start bxpush), or fix bxpush.server in php.ini. (#ERROR#)';
$MESS['BXPUSH_PULL_PROBLEM_EXT_KEY_EMPTY'] = 'bxpush.signature_key is empty in php.ini: set it to the key of the "Signature key" tab and restart PHP-FPM.';
$MESS['BXPUSH_PULL_PROBLEM_PULL_DISABLED'] = 'The pull module\'s push server is off (option nginx = N), so nothing is sent: reinstall bxpush.pull, or turn the push server on in the pull module settings.';
$MESS['BXPUSH_PULL_PROBLEM_PULL_VERSION'] = 'The pull module is set to push server version #VERSION#; bxpush needs 4: reinstall bxpush.pull.';
$MESS['BXPUSH_PULL_PROBLEM_KEY_MISMATCH'] = 'The pull module\'s signature key differs from bxpush.signature_key of PHP, so browsers are refused: make them equal (see the "Signature key" tab) and restart PHP-FPM and bxpush.';
$MESS['BXPUSH_PULL_PROBLEM_ALGO_MISMATCH'] = 'The pull module signs with #ALGO#, the PHP extension with #EXT_ALGO#: make them equal on the "Signature key" tab or in php.ini.';
$MESS['BXPUSH_PULL_PROBLEM_SPOOL_BACKLOG'] = '#FILES# spooled batch(es) wait in #DIR# although the runtime answers: they go out with the next send of any worker; if the number does not fall, check that bxpush serve and PHP-FPM use the same signature key.';
$MESS['BXPUSH_PULL_PROBLEM_SPOOL_BAD'] = '#COUNT# damaged spool file(s) (*.bad) in #DIR# were set aside and will not be sent: look at them, then delete them.';
$MESS['BXPUSH_PULL_STATUS_NO_PUBLISH_URL'] = 'the pull module\'s publish URL has no host, so /server-stat/ cannot be asked: set it on the "Listeners and transports" tab';
$MESS['BXPUSH_PULL_PROBLEM_RUNTIME_DOWN_HTTP'] = 'The runtime does not answer at its publish address: start bxpush serve (systemctl start bxpush) with --listen-pub on that address, or fix "Publish (PHP)" on the "Listeners and transports" tab. (#ERROR#)';
