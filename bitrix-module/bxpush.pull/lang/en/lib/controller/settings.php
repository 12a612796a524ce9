<?php
$MESS['BXPUSH_PULL_CONTROLLER_ACCESS_DENIED'] = 'Access denied: this needs the right to change the settings of bxpush.pull. Ask an administrator.';
