<?php
$MESS['BXPUSH_PULL_UNSTEP_RESTORE'] = 'The Push and Pull options install changed are set back to what they were before it: #NAMES#. Open pages are told to reload their push configuration.';
