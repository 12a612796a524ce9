<?php
$arModuleVersion = ['VERSION' => '1.0.0', 'VERSION_DATE' => '2026-12-02 00:00:00'];
