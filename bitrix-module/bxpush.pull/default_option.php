<?php
// Defaults of the module's own options. The snapshot of the pull options install changed
// (pull_snapshot), what it wrote (pull_written), the install mode and the transport check
// cache are written by install, never defaulted.
$bxpush_pull_default_option = [
    // seconds between two runs of the health agent (\Bxpush\Pull\Agent::check();)
    'agent_interval' => '600',
];
