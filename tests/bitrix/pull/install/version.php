<?php
// Stand-in of the pull module build the transport vectors were recorded from (26.250.x).
$arModuleVersion = ['VERSION' => '26.250.0', 'VERSION_DATE' => '2026-01-01 00:00:00'];
