<?php
$MESS['BXPUSH_PULL_UNSTEP2_DONE'] = 'The Push and Pull options are back to what they were before bxpush.pull.';
