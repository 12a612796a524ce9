<?php
$MESS['BXPUSH_PULL_INSTALLFORM_BAD_URL'] = 'Field #FIELD#: enter a full #SCHEMES# URL, for example #EXAMPLE#';
$MESS['BXPUSH_PULL_INSTALLFORM_PUBLISH_DOMAIN'] = 'The publish URL is used by PHP as it is (#DOMAIN# is not replaced there): enter the address bxpush serve listens on with --listen-pub, for example #EXAMPLE#';
$MESS['BXPUSH_PULL_INSTALLFORM_BAD_ALGO'] = 'Signature algorithm: choose sha1 or sha256 (the one of bxpush serve --signature-algo).';
