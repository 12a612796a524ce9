<?php
$MESS['BXPUSH_PULL_TEST_ERR_NO_USER'] = 'Sign in to send a test event: it is sent to the signed-in user.';
$MESS['BXPUSH_PULL_TEST_ERR_NONCE'] = 'The request has no valid nonce (8 to 64 letters and digits): reload the page and try again.';
$MESS['BXPUSH_PULL_TEST_ERR_NO_PULL'] = 'The pull module is not installed: install it (Settings → Modules), it sends the events.';
$MESS['BXPUSH_PULL_TEST_ERR_ADD'] = 'The pull module refused the test event: #ERROR#';
$MESS['BXPUSH_PULL_TEST_ERR_TRANSPORT'] = 'The test event could not be handed over: #ERROR#';
